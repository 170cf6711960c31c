// The workflow bundle's entry point: every workflow type the workers register.
export { scenarioWorkflow } from './scenario.ts';
export { reconcileWorkflow } from './reconcile.ts';
export { retentionWorkflow } from './retention.ts';
export { quotaWorkflow } from './quota.ts';
export { tenantWorkflow } from './tenant.ts';
export { auditAnchorWorkflow } from './audit-anchor.ts';
