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

const LimitsSchema = {
  memoryMb: Type.Integer({ minimum: 16 }),
  cpus: Type.Number({ exclusiveMinimum: 0 }),
  pids: Type.Integer({ minimum: 8 }),
  tmpfsMb: Type.Integer({ minimum: 1 }),
};

const ServiceName = Type.String({ pattern: '^[a-z][a-z0-9-]{0,30}$' });

/** A command exec'd in the service until it exits 0, at most timeoutSeconds after the service started. */
const ReadinessSchema = Type.Object({
  command: Type.Array(Type.String(), { minItems: 1 }),
  timeoutSeconds: Type.Integer({ minimum: 1, maximum: 300 }),
}, { additionalProperties: false });

/** A further service of a multi-service scenario; it shares the main service's loopback. */
const ServiceSchema = Type.Object({
  name: ServiceName,
  image: ImageSchema,
  /** uid:gid; never root */
  user: Type.String({ pattern: '^[1-9][0-9]*:[1-9][0-9]*$' }),
  limits: Type.Object(LimitsSchema, { additionalProperties: false }),
  evidencePaths: Type.Optional(Type.Array(Type.String({ pattern: '^/' }))),
  readiness: Type.Optional(ReadinessSchema),
  /** whether the scenario depends on it staying up (default true): its exit ends the scenario */
  required: Type.Optional(Type.Boolean()),
}, { additionalProperties: false });

export const RUNTIMES = ['runc', 'runsc'] as const;
export type Runtime = (typeof RUNTIMES)[number];

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
  /** the OCI runtime every service runs on (default runc); the plan must allow it */
  runtime: Type.Optional(Type.Union([Type.Literal('runc'), Type.Literal('runsc')])),
  /** the name of the service the top-level image, user, limits and evidence paths describe (default "main") */
  service: Type.Optional(ServiceName),
  /** the main service's readiness command */
  readiness: Type.Optional(ReadinessSchema),
  /** further services, sharing the main service's loopback (and nothing else) through a namespace holder */
  services: Type.Optional(Type.Array(ServiceSchema, { minItems: 1, maxItems: 8 })),
  /** a warm pool of this version's containers on each host (ARBITER_POOLS overrides it per host) */
  pool: Type.Optional(Type.Object({
    min: Type.Integer({ minimum: 0, maximum: 32 }),
    max: Type.Integer({ minimum: 0, maximum: 32 }),
  }, { additionalProperties: false })),
  /**
   * What the host writes into the scenario's containers once it is claimed (or cold started):
   * nothing per subject is baked into a container at create, so pooled and cold ones are alike.
   */
  inject: Type.Optional(Type.Object({
    /** an absolute path under the main service's /work: {scenarioId, tenant, subject} as JSON */
    identity: Type.Optional(Type.String({ pattern: '^/work/[A-Za-z0-9._/-]+$' })),
    /** a per-scenario random flag ARB{32 hex}, mode 0400 owned by the service's user */
    flag: Type.Optional(Type.Object({
      service: Type.Optional(ServiceName),
      path: Type.String({ pattern: '^/work/[A-Za-z0-9._/-]+$' }),
    }, { additionalProperties: false })),
  }, { additionalProperties: false })),
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
  const names = serviceNames(raw);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw new Error(`template ${file} names service "${twice}" twice`);
  if (raw.pool && raw.pool.min > raw.pool.max) throw new Error(`template ${file}: pool.min ${raw.pool.min} is above pool.max ${raw.pool.max}`);
  const flagService = raw.inject?.flag?.service;
  if (flagService !== undefined && !names.includes(flagService)) throw new Error(`template ${file}: inject.flag.service "${flagService}" is not one of its services`);
  for (const p of [raw.inject?.identity, raw.inject?.flag?.path]) {
    if (p !== undefined && p.split('/').some((seg) => seg === '..' || seg === '.')) throw new Error(`template ${file}: inject path ${p} must not contain . or ..`);
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

export const DEFAULT_SERVICE = 'main';

/** One service of a scenario, normalised: the template's top-level fields describe the main one. */
export interface ServiceDef {
  name: string;
  main: boolean;
  required: boolean;
  image: Template['image'];
  user: string;
  limits: { memoryMb: number; cpus: number; pids: number; tmpfsMb: number };
  evidencePaths: string[];
  readiness?: { command: string[]; timeoutSeconds: number } | undefined;
}

export function serviceNames(template: Pick<Template, 'service' | 'services'>): string[] {
  return [template.service ?? DEFAULT_SERVICE, ...(template.services ?? []).map((s) => s.name)];
}

/** Every service of a template, the main one first; a template without `services` has one. */
export function servicesOf(template: Template): ServiceDef[] {
  const main: ServiceDef = {
    name: template.service ?? DEFAULT_SERVICE,
    main: true,
    // The subject works in it: the scenario always depends on it.
    required: true,
    image: template.image,
    user: template.user,
    limits: { memoryMb: template.limits.memoryMb, cpus: template.limits.cpus, pids: template.limits.pids, tmpfsMb: template.limits.tmpfsMb },
    evidencePaths: template.evidencePaths,
    readiness: template.readiness,
  };
  return [main, ...(template.services ?? []).map((s) => ({
    name: s.name,
    main: false,
    required: s.required ?? true,
    image: s.image,
    user: s.user,
    limits: s.limits,
    evidencePaths: s.evidencePaths ?? [],
    readiness: s.readiness,
  }))];
}

/** The runtime a template's services run on. */
export function runtimeOf(template: Pick<Template, 'runtime'>): Runtime {
  return template.runtime ?? 'runc';
}
