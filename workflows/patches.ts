// Patch ids of versioned workflow changes: workflow internals (recorded in histories), kept beside
// the workflows that branch on them; replay tests import them from here.

/** Workflows started before it kept no read model in their memo (contract/queues.ts MEMO). */
export const STATE_IN_MEMO_PATCH = 'state-in-memo';
/** Scenarios started before it kept the whole completion as their fingerprint, not its sha256. */
export const COMPLETION_SHA256_PATCH = 'completion-digest-sha256';
/** Scenarios started before it ran admission as regular activities; their histories replay that way. */
export const ADMISSION_LOCAL_PATCH = 'admission-as-local-activities';
/** Scenarios started before it scheduled step 8 as `runScorer`; later ones as `score`, named by the step. */
export const ACTIVITY_NAMES_BY_STEP_PATCH = 'activity-names-by-step';
/** Scenarios started before it removed nothing after a failed launch (one container was never left halfway). */
export const POD_TEARDOWN_PATCH = 'pod-teardown-after-failed-launch';
/**
 * Scenarios started before it recorded every earlier patch one by one, ran admission as three
 * local activities, evidence, teardown and scoring as three host activities, and started retention
 * and released the lease from the workflow. It implies every patch above: a scenario that has it
 * asks for none of them.
 */
export const LEAN_HISTORY_PATCH = 'lean-history';
/**
 * Scenarios started before it ignored the hostLost signal (a host whose reports stopped). Asked
 * only when the signal comes, so a scenario whose host stays up records no marker for it.
 */
export const HOST_LOSS_PATCH = 'host-loss';
