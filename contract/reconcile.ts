// The reconciler's contract: its schedule, and the report each run returns.

/** A Temporal Schedule starts the reconcile workflow on the main queue at this interval. */
export const RECONCILE_SCHEDULE_ID = 'arbiter-reconcile';
export const RECONCILE_INTERVAL = '5 minutes';
export interface ReconciledContainer { containerName: string; scenarioId: string; role: string; workflowStatus: string }
export interface HostReconcileResult { hostId: string; removed: ReconciledContainer[]; kept: number; error?: string }
export interface ReconcileReport { hosts: HostReconcileResult[]; removed: number }
