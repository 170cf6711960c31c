// Publishing a template version freezes it: templates/published.json records the content digest
// of each published `id@version` folder, and a published version whose files no longer hash to
// that digest is refused at image build and at launch. A change needs a new version.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Type } from 'typebox';
import { Value } from 'typebox/value';
import { sha256Hex } from './sha256.ts';
import { buildManifest, manifestBytes } from './evidence-manifest.ts';
import { DEFAULT_TEMPLATES_DIR, loadTemplate, templateDir, type TemplateRef } from './template.ts';

export const PUBLISHED_FILE = 'published.json';

const PublishedSchema = Type.Record(Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}@[0-9]+$' }), Type.String({ pattern: '^[0-9a-f]{64}$' }));
export type Published = Record<string, string>;

export const refKey = (ref: TemplateRef): string => `${ref.id}@${ref.version}`;

/** sha256 of the template version folder's manifest (every file's path, sha256 and size). */
export function templateDigest(dir: string): string {
  return sha256Hex(manifestBytes(buildManifest(dir)));
}

export function readPublished(root = DEFAULT_TEMPLATES_DIR): Published {
  const file = join(root, PUBLISHED_FILE);
  if (!existsSync(file)) return {};
  const raw: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!Value.Check(PublishedSchema, raw)) {
    const first = Value.Errors(PublishedSchema, raw)[0];
    throw new Error(`${file} is invalid: ${first?.instancePath ?? ''} ${first?.message ?? ''}`);
  }
  return raw;
}

export class TemplateModifiedError extends Error {
  override name = 'TemplateModifiedError';
}

export interface TemplatePin {
  ref: TemplateRef;
  /** what the folder hashes to now */
  digest: string;
  /** whether the version is published (and, since this did not throw, unchanged) */
  published: boolean;
}

/** The digest a launch or build pins; throws when a published version's files changed. */
export function pinTemplate(ref: TemplateRef, root = DEFAULT_TEMPLATES_DIR, published = readPublished(root)): TemplatePin {
  const digest = templateDigest(templateDir(ref, root));
  const recorded = published[refKey(ref)];
  if (recorded !== undefined && recorded !== digest) {
    throw new TemplateModifiedError(
      `template ${refKey(ref)} was published with digest ${recorded} but its files now hash to ${digest}: ` +
      'a published version is immutable, publish the change as a new version',
    );
  }
  return { ref, digest, published: recorded !== undefined };
}

/**
 * Records a version's digest. Publishing the same content again is a no-op; publishing a version
 * that was published with other content is refused (that is exactly the change immutability forbids).
 */
export function publishTemplate(ref: TemplateRef, root = DEFAULT_TEMPLATES_DIR): { digest: string; alreadyPublished: boolean } {
  loadTemplate(ref, root); // refuses an unknown or invalid template before anything is recorded
  const published = readPublished(root);
  const pin = pinTemplate(ref, root, published);
  if (pin.published) return { digest: pin.digest, alreadyPublished: true };
  const next = Object.fromEntries(Object.entries({ ...published, [refKey(ref)]: pin.digest }).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const file = join(root, PUBLISHED_FILE);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(next, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
  return { digest: pin.digest, alreadyPublished: false };
}
