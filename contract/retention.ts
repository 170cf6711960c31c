// The retention workflow's contract: one workflow per scored scenario, started by it and left
// running when it closes.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

export const retentionWorkflowId = (scenarioId: string): string => `retention-${scenarioId}`;
export interface RetentionInput {
  scenarioId: string;
  correlationId: string;
  tenant: string;
  subject: string;
  plan: string;
  retentionDays: number;
  /** when the verdict was issued: the retention period counts from here */
  scoredAt: string;
}
/** A hold or a release; every field optional so an operator can send it bare from the Temporal UI. */
export interface HoldRequest { actor?: string; reason?: string }
export interface Tombstone {
  scenarioId: string;
  deletedAt: string;
  actor: string;
  reason: string;
  /** sha256 of verdict.dsse.json and of verdict.json as they were, null when there was none */
  verdict: { envelopeSha256: string; statementSha256: string | null; keyId: string | null } | null;
  removed: string[];
  /** the scenario audit chain's head once the deletion is recorded in it */
  auditHead?: string;
}
export interface RetentionState {
  scenarioId: string;
  status: 'retained' | 'held' | 'expired';
  retentionDays: number;
  deleteAfter: string;
  held: boolean;
  hold?: { actor: string; reason?: string; since: string };
  deletedAt?: string;
  tombstone?: Tombstone;
}
export const retentionQuery = defineQuery<RetentionState>('retention');
export const holdSignal = defineSignal<[HoldRequest?]>('hold');
export const releaseSignal = defineSignal<[HoldRequest?]>('release');
/** Deletes now a scenario whose retention is over (the sweep's catch-up); refused while held or before the deadline. */
export const expireUpdate = defineUpdate<RetentionState, [{ actor: string }]>('expireNow');
