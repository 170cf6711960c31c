// The quota entity's contract (one workflow per subject): lease requests and grants, its state.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

export interface LeaseRequest {
  scenarioId: string;
  maxConcurrent: number;
  spawnsPerMinute: number;
  /** the subject's leases still held by its entity under the old, ambiguous id: they count too */
  heldElsewhere?: number;
}
export interface LeaseGrant { scenarioId: string; alreadyHeld: boolean; active: number }
export interface QuotaState { leases: Record<string, { acquiredAt: string }>; recentSpawns: string[]; reapIntervalSeconds: number; startGraceSeconds: number }
export interface QuotaInput { reapIntervalSeconds: number; startGraceSeconds: number; carried?: Pick<QuotaState, 'leases' | 'recentSpawns'> }
export const acquireLeaseUpdate = defineUpdate<LeaseGrant, [LeaseRequest]>('acquireLease');
export const releaseLeaseSignal = defineSignal<[{ scenarioId: string }]>('releaseLease');
export const quotaQuery = defineQuery<QuotaState>('quota');
