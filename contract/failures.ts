// The failure types that cross a process boundary: raised as ApplicationFailure types by
// activities and workflows, and turned into HTTP errors by the one table in lib/errors.ts.
// Plain constants: importable by workflows, activities, the API, the CLI and workers alike.

export const FailureTypes = {
  unknownPlan: 'UnknownPlan',
  unknownTemplate: 'UnknownTemplate',
  notRunning: 'NotRunning',
  conflictingCompletion: 'ConflictingCompletion',
  /** a completion whose submission cannot be fingerprinted or stored (a number JSON cannot represent) */
  invalidCompletion: 'InvalidCompletion',
  scorerFailed: 'ScorerFailed',
  imageMissing: 'ImageMissing',
  /** a service's readiness command did not succeed within its bound */
  serviceNotReady: 'ServiceNotReady',
  /** a published template version whose files changed, or an image not built from the pinned one */
  templateModified: 'TemplateModified',
  quotaExceeded: 'QuotaExceeded',
  rateLimited: 'RateLimited',
  staleGrant: 'StaleGrant',
  /** no container host answered (activities/pick-host.ts): the scenario fails with the reason */
  noHostAvailable: 'NoHostAvailable',
  /** the scenario's host stopped answering while it ran (workflows/scenario.ts): it ends failed, host_lost */
  hostLost: 'HostLost',
  /** an audit anchor refused entries that do not extend its head (contract/audit-anchor.ts) */
  anchorRejected: 'AuditAnchorRejected',
} as const;
export type FailureType = (typeof FailureTypes)[keyof typeof FailureTypes];

/** The retention workflow's refusals of an early expiry: outcomes of a sweep, not HTTP errors. */
export const RetentionFailureTypes = { held: 'RetentionHeld', notDue: 'RetentionNotDue' } as const;
