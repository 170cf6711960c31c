// A scenario template: templates/<id>/<version>/template.json plus the image and scorer build
// contexts beside it. Templates are data, validated on load, never trusted half-parsed.
import { readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';

const ImageSchema = Type.Object({
  /** build context folder, relative to the template version folder */
  context: Type.String({ minLength: 1 }),
  /** local tag the build produces, e.g. arbiter/hello:1 */
  tag: Type.String({ minLength: 1 }),
  /** argv; the image's own entrypoint/cmd when absent */
  command: Type.Optional(Type.Array(Type.String())),
});

export const TemplateSchema = Type.Object({
  id: Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}$' }),
  version: Type.String({ pattern: '^[0-9]+$' }),
  description: Type.String(),
  tracks: Type.Array(Type.String(), { minItems: 1 }),
  /** uid:gid the scenario runs as; never root */
  user: Type.String({ pattern: '^[1-9][0-9]*:[1-9][0-9]*$' }),
  image: ImageSchema,
  scorer: Type.Intersect([ImageSchema, Type.Object({ timeoutSeconds: Type.Integer({ minimum: 1 }) })]),
  limits: Type.Object({
    memoryMb: Type.Integer({ minimum: 16 }),
    cpus: Type.Number({ exclusiveMinimum: 0 }),
    pids: Type.Integer({ minimum: 8 }),
    ttlSeconds: Type.Integer({ minimum: 1 }),
    tmpfsMb: Type.Integer({ minimum: 1 }),
  }),
  /** absolute paths inside the scenario container copied into the evidence bundle */
  evidencePaths: Type.Array(Type.String({ pattern: '^/' })),
  /** subject access (CONTRACT "Subject access"); absent: the defaults */
  access: Type.Optional(Type.Object({
    /** bytes of each exec input/output and file kept in the transcript (default 1 MiB; 0 keeps only digests) */
    recordBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 * 1024 * 1024 })),
    /** further users a caller may name, as uid:gid; the template's own user is always allowed */
    users: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_-]{0,31}$' }), Type.String({ pattern: '^[0-9]+:[0-9]+$' }))),
  }, { additionalProperties: false })),
});
export type Template = Static<typeof TemplateSchema>;

export interface TemplateRef { id: string; version: string }

export const DEFAULT_TEMPLATES_DIR = fileURLToPath(new URL('../templates', import.meta.url));

export function templateDir(ref: TemplateRef, root = DEFAULT_TEMPLATES_DIR): string {
  return join(root, ref.id, ref.version);
}

export function loadTemplate(ref: TemplateRef, root = DEFAULT_TEMPLATES_DIR): Template {
  const file = join(templateDir(ref, root), 'template.json');
  if (!existsSync(file)) throw new UnknownTemplateError(`${ref.id}@${ref.version}`);
  const raw: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!Value.Check(TemplateSchema, raw)) {
    const first = Value.Errors(TemplateSchema, raw)[0];
    throw new Error(`template ${file} is invalid: ${first?.instancePath ?? ''} ${first?.message ?? ''}`);
  }
  if (raw.id !== ref.id || raw.version !== ref.version) {
    throw new Error(`template ${file} declares ${raw.id}@${raw.version}, not ${ref.id}@${ref.version}`);
  }
  return raw;
}

/** Every template version on disk, highest version last per id. */
export function listTemplates(root = DEFAULT_TEMPLATES_DIR): TemplateRef[] {
  const refs: TemplateRef[] = [];
  if (!existsSync(root)) return refs;
  for (const id of readdirSync(root).sort()) {
    if (!statSync(join(root, id)).isDirectory()) continue;
    const versions = readdirSync(join(root, id))
      .filter((v) => /^[0-9]+$/.test(v))
      .sort((a, b) => Number(a) - Number(b));
    for (const version of versions) refs.push({ id, version });
  }
  return refs;
}

/** The newest version of a template id, or undefined when the id is unknown. */
export function latestVersion(id: string, root = DEFAULT_TEMPLATES_DIR): string | undefined {
  return listTemplates(root).filter((r) => r.id === id).at(-1)?.version;
}

export class UnknownTemplateError extends Error {
  override name = 'UnknownTemplateError';
}
