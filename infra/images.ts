// Builds every template's scenario and scorer images on the local engine. There is no registry:
// each image is built FROM scratch with the host's static busybox dropped into its context, and
// is rebuilt only when the context's content digest, or the digest of the template version it
// belongs to, differs from the ones labelled on the image. A published template version whose
// files changed is refused before anything is built.
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type Docker from 'dockerode';
import { DEFAULT_TEMPLATES_DIR, listTemplates, loadTemplate, templateDir } from './template.ts';
import { pinTemplate, readPublished, TemplateModifiedError } from './template-publication.ts';

// tar-fs ships no type declarations and @types/tar-fs is not a dependency; requiring it with an
// explicit signature keeps strict mode without an ambient declaration file.
const require = createRequire(import.meta.url);
const { pack } = require('tar-fs') as { pack: (dir: string) => NodeJS.ReadableStream };

export const DIGEST_LABEL = 'io.arbiter.context-digest';
export const TEMPLATE_LABEL = 'io.arbiter.template';
/** the template version digest (infra/template-publication.ts) the image was built from; launch checks it */
export const TEMPLATE_DIGEST_LABEL = 'io.arbiter.template-digest';

export interface BuiltImage { tag: string; imageId: string; built: boolean }

export interface BuildTemplateImagesOptions {
  templatesDir?: string;
  /** must be statically linked: the images have no libc */
  busyboxPath?: string;
  log?: (line: string) => void;
}

export async function buildTemplateImages(docker: Docker, opts: BuildTemplateImagesOptions = {}): Promise<BuiltImage[]> {
  const root = opts.templatesDir ?? DEFAULT_TEMPLATES_DIR;
  const busybox = opts.busyboxPath ?? '/bin/busybox';
  const log = opts.log ?? (() => {});
  const results: BuiltImage[] = [];
  const published = readPublished(root);
  const refused: string[] = [];
  const pins = listTemplates(root).flatMap((ref) => {
    try {
      return [pinTemplate(ref, root, published)];
    } catch (err) {
      if (!(err instanceof TemplateModifiedError)) throw err;
      refused.push(err.message);
      return [];
    }
  });
  if (refused.length) throw new TemplateModifiedError(refused.join('\n'));
  for (const { ref, digest } of pins) {
    const template = loadTemplate(ref, root);
    const dir = templateDir(ref, root);
    for (const spec of [template.image, template.scorer, ...(template.services ?? []).map((svc) => svc.image)]) {
      const result = await buildOne(docker, {
        contextDir: join(dir, spec.context),
        tag: spec.tag,
        templateLabel: `${ref.id}@${ref.version}`,
        templateDigest: digest,
        busybox,
      });
      log(result.built ? `built ${result.tag} (${short(result.imageId)})` : `up to date ${result.tag} (${short(result.imageId)})`);
      results.push(result);
    }
  }
  const holder = await buildOne(docker, { contextDir: HOLDER_CONTEXT, tag: HOLDER_IMAGE, templateLabel: 'arbiter-holder', templateDigest: 'none', busybox });
  log(holder.built ? `built ${holder.tag} (${short(holder.imageId)})` : `up to date ${holder.tag} (${short(holder.imageId)})`);
  results.push(holder);
  return results;
}

/** The namespace holder's image (activities/container-spec.ts podMembers): the same for every template. */
// Spelled from the repository's root so that it resolves from infra/ and from the CLI bundle in dist/ alike.
export const HOLDER_IMAGE = 'arbiter/holder:1';
const HOLDER_CONTEXT = fileURLToPath(new URL('../infra/holder-image', import.meta.url));

async function buildOne(
  docker: Docker,
  p: { contextDir: string; tag: string; templateLabel: string; templateDigest: string; busybox: string },
): Promise<BuiltImage> {
  const tmp = mkdtempSync(join(tmpdir(), 'arbiter-build-'));
  try {
    cpSync(p.contextDir, tmp, { recursive: true });
    copyFileSync(p.busybox, join(tmp, 'busybox'));
    chmodSync(join(tmp, 'busybox'), 0o755);
    const digest = contextDigest(tmp);

    const existing = await inspectImage(docker, p.tag);
    const labels = existing?.Config?.Labels;
    if (existing && labels?.[DIGEST_LABEL] === digest && labels[TEMPLATE_DIGEST_LABEL] === p.templateDigest) {
      return { tag: p.tag, imageId: existing.Id, built: false };
    }

    const stream = await docker.buildImage(pack(tmp), {
      t: p.tag,
      labels: { [DIGEST_LABEL]: digest, [TEMPLATE_LABEL]: p.templateLabel, [TEMPLATE_DIGEST_LABEL]: p.templateDigest },
      // The engine may have no bridge at all, and a scenario build must never reach the network.
      networkmode: 'none',
      rm: true,
      forcerm: true,
    });
    await followBuild(docker, stream, p.tag);

    const built = await inspectImage(docker, p.tag);
    if (!built || built.Config?.Labels?.[DIGEST_LABEL] !== digest || built.Config.Labels[TEMPLATE_DIGEST_LABEL] !== p.templateDigest) {
      throw new Error(`image build ${p.tag}: finished but the tagged image does not carry digests ${digest} and ${p.templateDigest}`);
    }
    if (existing && existing.Id !== built.Id) await removeIfUnused(docker, existing.Id);
    return { tag: p.tag, imageId: built.Id, built: true };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

interface BuildEvent { stream?: string; error?: string; errorDetail?: { message?: string } }

function followBuild(docker: Docker, stream: NodeJS.ReadableStream, tag: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // The engine reports a failing RUN step as an event in a stream that otherwise ends normally,
    // so success is "no error event", not "no transport error".
    docker.modem.followProgress(stream, (err: Error | null, events: BuildEvent[]) => {
      if (err) return reject(new Error(`image build ${tag}: ${err.message}`));
      const failed = events.find((e) => e.error !== undefined || e.errorDetail !== undefined);
      if (failed) {
        const message = failed.errorDetail?.message ?? failed.error ?? 'unknown error';
        const tail = events.map((e) => e.stream?.trim() ?? '').filter(Boolean).slice(-6).join('\n');
        return reject(new Error(`image build ${tag} failed: ${message}${tail ? `\n${tail}` : ''}`));
      }
      resolve();
    });
  });
}

async function inspectImage(docker: Docker, tag: string): Promise<Docker.ImageInspectInfo | undefined> {
  try {
    return await docker.getImage(tag).inspect();
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return undefined;
    throw err;
  }
}

// Every context change would otherwise leave a dangling image behind. One still used by a
// container (a running scenario, a scorer) or carrying another tag is kept: the engine refuses.
async function removeIfUnused(docker: Docker, imageId: string): Promise<void> {
  try {
    await docker.getImage(imageId).remove({ noprune: false });
  } catch {
    // kept on purpose, see above
  }
}

/**
 * sha256 over the sorted relative paths and contents of a build context. Each entry is framed
 * (kind, path, length) so that moving bytes between a name and a body cannot collide.
 */
export function contextDigest(dir: string): string {
  const hash = createHash('sha256');
  for (const rel of walk(dir, '')) {
    const abs = join(dir, rel);
    const st = lstatSync(abs);
    const body = st.isSymbolicLink() ? Buffer.from(readlinkSync(abs)) : readFileSync(abs);
    hash.update(`${st.isSymbolicLink() ? 'l' : 'f'}\0${rel}\0${body.length}\0`);
    hash.update(body);
  }
  return `sha256:${hash.digest('hex')}`;
}

function walk(root: string, rel: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, rel), { withFileTypes: true })) {
    const child = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...walk(root, child));
    else out.push(child);
  }
  // Plain code-unit order, not locale order, so every host computes the same digest.
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function short(imageId: string): string {
  return imageId.replace(/^sha256:/, '').slice(0, 12);
}
