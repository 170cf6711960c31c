// Test templates: copies of hello with a scorer script of the test's own (and, for a pod, further
// services running hello's image with commands of the test's own), built into images with tags of
// their own (never hello's, which other tests run) by the real image builder.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTemplateImages } from '../../infra/images.ts';
import { docker, REPO } from './harness.ts';

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
