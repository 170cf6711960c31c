// Test templates: copies of hello with a scorer script of the test's own (and, for a pod, further
// services running hello's image with commands of the test's own), or of pooled-flag for the pool
// tests, built into images with tags of their own (never the repository's, which other tests run)
// by the real image builder.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LABELS } from '../../activities/container-spec.ts';
import { buildTemplateImages } from '../../infra/images.ts';
import { docker, REPO } from './harness.ts';
import type { Stack } from './stack.ts';

export interface TestTemplate {
  id: string;
  /** the scorer's /opt/scorer/score.sh */
  scorer: string;
  scorerTimeoutSeconds?: number;
  /** further services (a pod), each on the template's own image with its own command */
  services?: readonly TestService[];
}

export interface TestService {
  name: string;
  command: string[];
  memoryMb: number;
  required?: boolean;
  readiness?: { command: string[]; timeoutSeconds: number };
}

/** A fresh templates folder holding one template per entry, every image built. */
export async function buildTestTemplates(templates: readonly TestTemplate[]): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), 'arbiter-test-templates-'));
  for (const t of templates) {
    const dir = join(root, t.id, '1');
    cpSync(join(REPO, 'templates', 'hello', '1'), dir, { recursive: true });
    const file = join(dir, 'template.json');
    const template = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>> & { id: string };
    template.id = t.id;
    template.image!.tag = `arbiter-test/${t.id}:1`;
    template.scorer!.tag = `arbiter-test/${t.id}-scorer:1`;
    if (t.scorerTimeoutSeconds) template.scorer!.timeoutSeconds = t.scorerTimeoutSeconds;
    if (t.services) {
      (template as Record<string, unknown>).services = t.services.map((s) => ({
        name: s.name,
        image: { context: 'image', tag: template.image!.tag, command: s.command },
        user: '1000:1000',
        limits: { memoryMb: s.memoryMb, cpus: 0.25, pids: 32, tmpfsMb: 4 },
        evidencePaths: [],
        ...(s.required !== undefined ? { required: s.required } : {}),
        ...(s.readiness ? { readiness: s.readiness } : {}),
      }));
    }
    writeFileSync(file, JSON.stringify(template, null, 2));
    writeFileSync(join(dir, 'scorer', 'score.sh'), t.scorer);
  }
  await buildTemplateImages(docker, { templatesDir: root });
  return root;
}

/**
 * A templates folder holding pooled-flag@1 under the test's own id and image tags, changed by
 * `edit`, beside the repository templates named in `alongside` as they are (same digest, their
 * images already built); every image built.
 */
export async function copyPooledFlag(id: string, opts: { edit?: (template: Record<string, unknown>) => void; alongside?: readonly string[] } = {}): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), `arbiter-test-${id}-`));
  const dir = join(root, id, '1');
  cpSync(join(REPO, 'templates', 'pooled-flag', '1'), dir, { recursive: true });
  for (const other of opts.alongside ?? []) cpSync(join(REPO, 'templates', other, '1'), join(root, other, '1'), { recursive: true });
  const file = join(dir, 'template.json');
  const template = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>>;
  (template as Record<string, unknown>).id = id;
  template.image!.tag = `arbiter-test/${id}:1`;
  template.scorer!.tag = `arbiter-test/${id}-scorer:1`;
  opts.edit?.(template);
  writeFileSync(file, JSON.stringify(template, null, 2));
  await buildTemplateImages(docker, { templatesDir: root });
  return root;
}

/** A pool test's end: its stack stopped, then its host's containers, the copy's images and folder removed. */
export async function stopPoolTest(stack: Stack | undefined, id: string, root: string | undefined): Promise<void> {
  await stack?.host.pools.stop();
  const hostId = stack?.t.config.hostId;
  await stack?.stop();
  // The pool's entries outlive the worker by design (they are warm for its next start): the test's
  // host id is never used again, so they go now.
  if (hostId) for (const c of await docker.listContainers({ all: true, filters: { label: [`${LABELS.host}=${hostId}`] } })) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  for (const tag of [`arbiter-test/${id}:1`, `arbiter-test/${id}-scorer:1`]) await docker.getImage(tag).remove({ force: true }).catch(() => undefined);
  if (root) rmSync(root, { recursive: true, force: true });
}
