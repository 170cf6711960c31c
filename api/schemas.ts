// TypeBox schemas for every body, param and response of the HTTP API; types derive from them.
import { Type, type Static, type TSchema } from 'typebox';
import { SCENARIO_ID_PATTERN, STATUSES } from '../contract/scenario.ts';

/**
 * A JSON object whose every key obeys `key` and every value `value`. Not TypeBox's Record: it puts
 * the key's pattern in patternProperties, which lets any key that misses the pattern through with
 * any value (and drops a key's maxLength), and @fastify/swagger rewrites patternProperties to
 * additionalProperties, so the document would not even say what the key must be.
 */
export function stringMap<K extends TSchema, V extends TSchema>(key: K, value: V, options: { maxProperties?: number; description?: string } = {}) {
  return Type.Unsafe<Record<string, Static<V>>>({ type: 'object', propertyNames: key, additionalProperties: value, ...options });
}

export const ErrorBody = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    reasons: Type.Optional(Type.Array(Type.String())),
  }),
});

export const Status = Type.Enum([...STATUSES]);

export const SatRequest = Type.Object({
  template: Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}(@[0-9]+)?$', description: 'template id, optionally pinned: "hello" or "hello@1"' }),
  track: Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}$' }),
}, { additionalProperties: false });
export type SatRequest = Static<typeof SatRequest>;

export const SatResponse = Type.Object({
  sat: Type.String(),
  expiresAt: Type.String(),
  plan: Type.String(),
  retentionDays: Type.Integer(),
  template: Type.String(),
  templateVersion: Type.String(),
});

export const SpawnRequest = Type.Object({}, { additionalProperties: false });
export const SpawnResponse = Type.Object({
  scenarioId: Type.String(),
  status: Status,
  accessToken: Type.Optional(Type.String({ description: 'Authorization: Bearer for this scenario\'s exec, files and terminal (and reading it), valid until its TTL ends' })),
  accessTokenExpiresAt: Type.Optional(Type.String()),
});

export const ScenarioParams = Type.Object({ id: Type.String({ pattern: SCENARIO_ID_PATTERN }) });
export type ScenarioParams = Static<typeof ScenarioParams>;

/** An ended scenario's retention: when its artifacts go, whether an operator holds them. */
export const RetentionView = Type.Object({
  status: Type.Union([Type.Literal('retained'), Type.Literal('held'), Type.Literal('expired')]),
  deleteAfter: Type.String(),
  held: Type.Boolean(),
  hold: Type.Optional(Type.Object({ actor: Type.String(), reason: Type.Optional(Type.String()), since: Type.String() })),
  deletedAt: Type.Optional(Type.String()),
});

export const ScenarioView = Type.Object({
  scenarioId: Type.String(),
  status: Status,
  tenant: Type.String(),
  subject: Type.String(),
  template: Type.String(),
  templateVersion: Type.String(),
  track: Type.String(),
  plan: Type.String(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  reason: Type.Optional(Type.String()),
  reasons: Type.Optional(Type.Array(Type.String())),
  hostId: Type.Optional(Type.String()),
  containerName: Type.Optional(Type.String()),
  ttlSeconds: Type.Optional(Type.Integer()),
  policySha256: Type.Optional(Type.String()),
  score: Type.Optional(Type.Object({ score: Type.Number(), maxScore: Type.Number(), passed: Type.Boolean() })),
  verdictKeyId: Type.Optional(Type.String()),
  retention: Type.Optional(RetentionView),
  access: Type.Optional(Type.Object({ exec: Type.Boolean(), files: Type.Boolean(), terminal: Type.Boolean(), terminalSessions: Type.Integer() })),
  workdir: Type.Optional(Type.String({ description: 'the main service\'s working directory: relative exec cwd and file paths resolve against it' })),
  services: Type.Optional(Type.Array(Type.Object({
    name: Type.String(),
    main: Type.Boolean({ description: 'the service exec, files and terminal use when no `service` is named' }),
    required: Type.Boolean({ description: 'the scenario depends on it: its exit ends the scenario (environment_reset)' }),
    containerName: Type.String(),
    workdir: Type.String({ description: 'where its relative exec cwd and file paths resolve' }),
  }), { description: 'a multi-service scenario\'s services (absent: one, the main one)' })),
  reset: Type.Optional(Type.Object({
    service: Type.String(),
    exitCode: Type.Integer(),
    oomKilled: Type.Boolean(),
  }, { description: 'the required service whose exit ended the scenario (status failed, reason environment_reset)' })),
});

export const CompleteRequest = Type.Object({
  outcome: Type.Union([Type.Literal('success'), Type.Literal('failure'), Type.Literal('gave_up')]),
  submission: stringMap(Type.String({ maxLength: 128 }), Type.Unknown(), { maxProperties: 64 }),
}, { additionalProperties: false });
export type CompleteRequest = Static<typeof CompleteRequest>;

export const StatusBody = Type.Object({ status: Status });

export const VerdictResponse = Type.Object({
  verdict: Type.Unknown(),
  signature: Type.String(),
  keyId: Type.String(),
  envelope: Type.Unknown(),
});

export const Jwks = Type.Object({
  keys: Type.Array(Type.Object({ kty: Type.String(), crv: Type.String(), x: Type.String(), kid: Type.String(), alg: Type.String(), use: Type.String() })),
});

export const HoldRequest = Type.Object({ reason: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })) }, { additionalProperties: false });
export type HoldRequest = Static<typeof HoldRequest>;
export const SweepRequest = Type.Object({ dryRun: Type.Boolean() }, { additionalProperties: false });
export const SweepResponse = Type.Object({
  dryRun: Type.Boolean(),
  deleted: Type.Array(Type.String(), { description: 'deleted by this sweep (with dryRun: would be deleted)' }),
  held: Type.Array(Type.String(), { description: 'due or not, kept because an operator holds them' }),
  kept: Type.Array(Type.String(), { description: 'retention not over yet' }),
});

export const CompletionTokenResponse = Type.Object({
  token: Type.String({ description: 'completion token of this one scenario: Authorization: Bearer for POST /api/scenarios/:id/complete' }),
  expiresAt: Type.String({ description: 'when the token stops working: at the latest when the scenario\'s TTL ends' }),
});
