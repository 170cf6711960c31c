// The retention workflow's contract: one workflow per ended scenario (scored, denied, failed, timed
// out or cancelled), started as it ends and left running when it closes.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

export const retentionWorkflowId = (scenarioId: string): string => `retention-${scenarioId}`;
export interface RetentionInput {
  scenarioId: string;
  correlationId: string;
  /** '' when a sweep restarted it after Temporal forgot the scenario (a never-scored scenario's audit log does not name it) */
  tenant: string;
  subject: string;
  plan: string;
  retentionDays: number;
  /**
   * When the scenario ended (its verdict's issue time when it was scored): the retention period
   * counts from here. Absent in inputs from before retention covered every end: those have scoredAt.
   */
  endedAt?: string;
  /**
   * When the verdict was issued, only for a scored scenario (equal to endedAt then). Inputs from
   * before endedAt existed carry only this, and workers from then read only this.
   */
  scoredAt?: string;
}
/** A hold or a release; every field optional so an operator can send it bare from the Temporal UI. */
export interface HoldRequest { actor?: string; reason?: string }
export interface Tombstone {
  scenarioId: string;
  deletedAt: string;
  actor: string;
  reason: string;
  /**
   * The status the scenario ended with, from the last status in its audit log (absent in
   * tombstones written before every end was retained: those were all scored).
   */
  endedAs?: string;
  /** sha256 of verdict.dsse.json and of verdict.json as they were, null when there was none (never scored) */
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
