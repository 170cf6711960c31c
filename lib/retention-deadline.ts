// How a retention deadline is computed from a verdict's issue time: one pure function, so the
// retention workflow's timer and the API's sweep can never disagree about when a scenario is due.
const DAY_MS = 24 * 3600 * 1000;

/** Epoch milliseconds after which the scenario's artifacts are deleted. */
export function retentionDeadline(scoredAt: string, retentionDays: number): number {
  return Date.parse(scoredAt) + retentionDays * DAY_MS;
}
