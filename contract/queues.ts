// Where the processes meet on the Temporal server: task queues, workflow type names, search
// attributes, memo keys and the correlation header. Workflows, activities, workers, the API and
// the CLI import them from here, never repeat a string literal.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const MAIN_TASK_QUEUE = 'arbiter-main';
export const hostTaskQueue = (hostId: string): string => `arbiter-host-${hostId}`;

export const SCENARIO_WORKFLOW_TYPE = 'scenarioWorkflow';
// The entity workflows' ids (quota per subject, entitlement per tenant) are built in
// lib/entity-ids.ts: only the API and activities build them; a scenario is handed its quota id.
export const QUOTA_WORKFLOW_TYPE = 'quotaWorkflow';
export const TENANT_WORKFLOW_TYPE = 'tenantWorkflow';
export const RETENTION_WORKFLOW_TYPE = 'retentionWorkflow';
export const RECONCILE_WORKFLOW_TYPE = 'reconcileWorkflow';
/** One per shared hash-chained log (contract/audit-anchor.ts): `audit-anchor-operator`, `audit-anchor-billing`. */
export const AUDIT_ANCHOR_WORKFLOW_TYPE = 'auditAnchorWorkflow';

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

/**
 * Where each workflow keeps what its readers need, in its memo, kept current with upsertMemo.
 * The API reads them with DescribeWorkflowExecution, answered by the server alone: a read costs
 * no workflow task, never waits on a busy or absent worker, and cannot deadlock an activity that
 * reads another workflow on the same worker. Queries stay for workflows started before this
 * (their memo has none of it).
 */
export const MEMO = { scenarioState: 'state', tenantEntitlement: 'entitlement', retentionState: 'retention', auditAnchor: 'anchor' } as const;
