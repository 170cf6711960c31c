// How a scenario ended, as its audit log says: the log outlives the scenario's workflow (Temporal
// drops closed workflows after the namespace's retention) and, for a scenario never scored, is the
// only record on storage of when it ended and under which plan. Pure: the caller reads the file.
import type { AuditEntry } from './audit-chain.ts';
import { TERMINAL_STATUSES, type ScenarioStatus } from '../contract/scenario.ts';

export interface AuditedEnd {
  /** the last status the log records: one a scenario ends with (never "expired", which is retention's) */
  status: ScenarioStatus;
  /** when it was recorded: the scenario's end time */
  at: string;
  /** the plan entitlements resolved, else the one the SAT claimed; undefined when the log names neither */
  plan?: string;
  /** who requested the scenario */
  subject?: string;
}

const STATUS_PREFIX = 'status.';

/** The scenario's end, or undefined when the log does not end with one (still running, or not a scenario's log). */
export function auditedEnd(entries: readonly AuditEntry[]): AuditedEnd | undefined {
  const last = entries.findLast((e) => typeof e.event === 'string' && e.event.startsWith(STATUS_PREFIX));
  if (!last) return undefined;
  const status = last.event.slice(STATUS_PREFIX.length) as ScenarioStatus;
  if (!TERMINAL_STATUSES.includes(status) || status === 'expired' || typeof last.time !== 'string') return undefined;
  const planOf = (e: AuditEntry | undefined) => (typeof e?.data?.plan === 'string' ? e.data.plan : undefined);
  const requested = entries.find((e) => e.event === 'scenario.requested');
  const plan = planOf(entries.findLast((e) => e.event === 'entitlements.resolved')) ?? planOf(requested);
  return {
    status,
    at: last.time,
    ...(plan !== undefined ? { plan } : {}),
    ...(typeof requested?.actor === 'string' ? { subject: requested.actor } : {}),
  };
}
