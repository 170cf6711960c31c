// Everything the workflow, the workers, the API and the CLI must agree on: queue names, message
// definitions and payload types. Call sites import from here, never repeat a string literal.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { PolicyDecision } from '../lib/policy-types.ts';
import type { ScoreResult } from '../lib/verdict.ts';

export const MAIN_TASK_QUEUE = 'arbiter-main';
export const SCENARIO_WORKFLOW_TYPE = 'scenarioWorkflow';
export const hostTaskQueue = (hostId: string): string => `arbiter-host-${hostId}`;
export const scenarioIdFromJti = (jti: string): string => `scn-${jti}`;
export const SCENARIO_ID_PATTERN = '^scn-[A-Za-z0-9-]{8,64}$';

/** Custom search attributes operators filter by in the Temporal UI. */
export const SEARCH_ATTRIBUTES = {
  ArbiterTenant: 'Keyword',
  ArbiterSubject: 'Keyword',
  ArbiterTemplate: 'Keyword',
  ArbiterTrack: 'Keyword',
  ArbiterPlan: 'Keyword',
  ArbiterStatus: 'Keyword',
} as const;

/** Typed keys for the attributes above: the API sets them at start, the workflow keeps them current. */
export const SearchAttributeKeys = {
  tenant: defineSearchAttributeKey('ArbiterTenant', SearchAttributeType.KEYWORD),
  subject: defineSearchAttributeKey('ArbiterSubject', SearchAttributeType.KEYWORD),
  template: defineSearchAttributeKey('ArbiterTemplate', SearchAttributeType.KEYWORD),
  track: defineSearchAttributeKey('ArbiterTrack', SearchAttributeType.KEYWORD),
  plan: defineSearchAttributeKey('ArbiterPlan', SearchAttributeType.KEYWORD),
  status: defineSearchAttributeKey('ArbiterStatus', SearchAttributeType.KEYWORD),
} as const;

/** Temporal header that carries the correlation id from the API through workflows into activities. */
export const CORRELATION_HEADER = 'arbiter-correlation-id';

export const STATUSES = [
  'pending', 'denied', 'launching', 'running', 'scoring', 'scored', 'failed', 'timed_out', 'cancelled', 'expired',
] as const;
export type ScenarioStatus = (typeof STATUSES)[number];
export const TERMINAL_STATUSES: readonly ScenarioStatus[] = ['denied', 'scored', 'failed', 'timed_out', 'cancelled', 'expired'];

// The entity workflows' ids (quota per subject, entitlement per tenant) are built in
// lib/entity-ids.ts: only the API and activities build them; a scenario is handed its quota id.
export const QUOTA_WORKFLOW_TYPE = 'quotaWorkflow';
export const TENANT_WORKFLOW_TYPE = 'tenantWorkflow';

export interface ScenarioInput {
  scenarioId: string;
  correlationId: string;
  subject: string;
  tenant: string;
  /** the plan the SAT claims; checkEntitlements re-resolves it and wins */
  plan: string;
  template: { id: string; version: string };
  track: string;
  retentionDays: number;
  createdAt: string;
  /** the quota entity holding this scenario's lease; released on every way the scenario ends */
  quotaWorkflowId?: string;
}

export interface CompletionRequest {
  outcome: string;
  submission: Record<string, unknown>;
  /** who sent it: the scenario host (completion token) or an operator */
  actor: string;
}

export interface ScenarioState {
  scenarioId: string;
  status: ScenarioStatus;
  tenant: string;
  subject: string;
  template: string;
  templateVersion: string;
  track: string;
  plan: string;
  createdAt: string;
  updatedAt: string;
  reason?: string;
  reasons?: string[];
  hostId?: string;
  containerName?: string;
  ttlSeconds?: number;
  policySha256?: string;
  completionDigest?: string;
  score?: Pick<ScoreResult, 'score' | 'maxScore' | 'passed'>;
  verdictKeyId?: string;
}

export interface AdmissionResult { status: ScenarioStatus; reasons: string[]; policy?: PolicyDecision }
export interface CompletionAck { status: ScenarioStatus }

export const statusQuery = defineQuery<ScenarioState>('status');

// ---- read models ------------------------------------------------------------------------------
/**
 * Where each workflow keeps what its readers need, in its memo, kept current with upsertMemo.
 * The API reads them with DescribeWorkflowExecution, answered by the server alone: a read costs
 * no workflow task, never waits on a busy or absent worker, and cannot deadlock an activity that
 * reads another workflow on the same worker. Queries stay for workflows started before this
 * (their memo has none of it).
 */
export const MEMO = { scenarioState: 'state', tenantEntitlement: 'entitlement', retentionState: 'retention' } as const;
export const STATE_IN_MEMO_PATCH = 'state-in-memo';
/** Scenarios started before it kept the whole completion as their fingerprint, not its sha256. */
export const COMPLETION_SHA256_PATCH = 'completion-digest-sha256';
/** Answers once the admission steps (entitlements, policy) have decided: used by POST /api/spawn. */
export const admissionUpdate = defineUpdate<AdmissionResult>('admission');
export const completeUpdate = defineUpdate<CompletionAck, [CompletionRequest]>('complete');
/** Sent by the container host's monitor when the scenario container stops on its own. */
export const containerExitedSignal = defineSignal<[{ containerName: string; exitCode: number }]>('containerExited');

// ---- quota entity -------------------------------------------------------------------------------
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

// ---- tenant entitlement entity ----------------------------------------------------------------
export type EntitlementSource = 'receipt' | 'et' | 'default';
export interface TenantGrant { plan: string; source: Exclude<EntitlementSource, 'default'>; reference: string; issuedAt: string }
export interface TenantEntitlementState { receipt?: TenantGrant; et?: TenantGrant }
export interface ResolvedEntitlement { plan: string; source: EntitlementSource; reference?: string }
export const recordGrantUpdate = defineUpdate<ResolvedEntitlement, [TenantGrant]>('recordGrant');
export const entitlementQuery = defineQuery<ResolvedEntitlement>('entitlement');
/** The tenant entity's memo: the resolved plan, and the grants it came from (a SAT need not re-record its ET). */
export interface TenantEntitlementMemo { resolved: ResolvedEntitlement; grants: TenantEntitlementState }
export const DEFAULT_PLAN = 'free';

/** Receipt beats ET beats the free default; within a source, the most recently issued wins. */
export function resolveEntitlement(state: TenantEntitlementState): ResolvedEntitlement {
  const g = state.receipt ?? state.et;
  return g ? { plan: g.plan, source: g.source, reference: g.reference } : { plan: DEFAULT_PLAN, source: 'default' };
}

// ---- retention: one workflow per scored scenario, started by it and left running when it closes
export const RETENTION_WORKFLOW_TYPE = 'retentionWorkflow';
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

// ---- reconciler ------------------------------------------------------------------------------
/** A Temporal Schedule starts the reconcile workflow on the main queue at this interval. */
export const RECONCILE_SCHEDULE_ID = 'arbiter-reconcile';
export const RECONCILE_WORKFLOW_TYPE = 'reconcileWorkflow';
export const RECONCILE_INTERVAL = '5 minutes';
export interface ReconciledContainer { containerName: string; scenarioId: string; role: string; workflowStatus: string }
export interface HostReconcileResult { hostId: string; removed: ReconciledContainer[]; kept: number; error?: string }
export interface ReconcileReport { hosts: HostReconcileResult[]; removed: number }

export { FailureTypes, RetentionFailureTypes, type FailureType } from '../contract/failures.ts';
