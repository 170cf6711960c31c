// How a retention deadline is computed from the time a scenario ended: one pure function, so the
// retention workflow's timer and the API's sweep can never disagree about when a scenario is due.
import type { RetentionInput } from '../contract/retention.ts';

const DAY_MS = 24 * 3600 * 1000;

/** Epoch milliseconds after which the scenario's artifacts are deleted. */
export function retentionDeadline(endedAt: string, retentionDays: number): number {
  return Date.parse(endedAt) + retentionDays * DAY_MS;
}

/**
 * Where a retention input's period starts: its end time, or for an input from before every end
 * was retained (recorded in running retention workflows' histories), its verdict's issue time.
 */
export function retentionStart(input: Pick<RetentionInput, 'endedAt' | 'scoredAt'>): string {
  const start = input.endedAt ?? input.scoredAt;
  if (start === undefined) throw new TypeError('a retention input needs endedAt (or scoredAt)');
  return start;
}
