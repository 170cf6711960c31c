// Plans (tiers) are read from policies/plans/data.json: the same file OPA bundles as data.plans,
// so the API, the workflows and the policy can never disagree about what a plan allows.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';

export const PlanLimitsSchema = Type.Object({
  memoryMb: Type.Integer({ minimum: 16 }),
  cpus: Type.Number({ exclusiveMinimum: 0 }),
  pids: Type.Integer({ minimum: 8 }),
  ttlSeconds: Type.Integer({ minimum: 1 }),
});
export type PlanLimits = Static<typeof PlanLimitsSchema>;

export const PlanSchema = Type.Object({
  tracks: Type.Array(Type.String()),
  maxConcurrent: Type.Integer({ minimum: 0 }),
  spawnsPerMinute: Type.Integer({ minimum: 0 }),
  limits: PlanLimitsSchema,
  retentionDays: Type.Integer({ minimum: 0 }),
  /** subject access the plan grants; decided by policies/arbiter/spawn/access */
  access: Type.Optional(Type.Object({
    exec: Type.Boolean(),
    files: Type.Boolean(),
    terminal: Type.Boolean(),
    terminalSessions: Type.Integer({ minimum: 0 }),
  })),
  /** OCI runtimes a scenario may run on (absent: runc only); decided by policies/arbiter/spawn/plan */
  runtimes: Type.Optional(Type.Array(Type.Union([Type.Literal('runc'), Type.Literal('runsc')]), { minItems: 1 })),
});
export type Plan = Static<typeof PlanSchema>;
export type PlanId = string;
export type Plans = Record<PlanId, Plan>;

export const DEFAULT_PLANS_FILE = fileURLToPath(new URL('../policies/plans/data.json', import.meta.url));

export function loadPlans(file: string = DEFAULT_PLANS_FILE): Plans {
  const raw: unknown = JSON.parse(readFileSync(file, 'utf8'));
  const schema = Type.Record(Type.String(), PlanSchema);
  if (!Value.Check(schema, raw)) {
    const first = Value.Errors(schema, raw)[0];
    throw new Error(`plans file ${file} is invalid: ${first?.instancePath ?? ''} ${first?.message ?? ''}`);
  }
  // Plan ids come from tokens and receipts: a lookup of "constructor" or "__proto__" must find
  // nothing, not a property every object inherits.
  return Object.assign(Object.create(null) as Plans, raw);
}
