// The reconciler's Temporal Schedule, created when the main worker starts. Creating it is
// idempotent: a schedule that already exists (another main worker, an earlier start) is kept
// as it is, so restarts never stack up duplicate schedules.
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { reconcileWorkflow } from '../workflows/reconcile.ts';
import { MAIN_TASK_QUEUE, RECONCILE_WORKFLOW_TYPE } from '../contract/queues.ts';
import { RECONCILE_INTERVAL, RECONCILE_SCHEDULE_ID } from '../contract/reconcile.ts';

export async function ensureReconcileSchedule(client: Client, opts: { scheduleId?: string; every?: string } = {}): Promise<{ scheduleId: string; created: boolean }> {
  const scheduleId = opts.scheduleId ?? RECONCILE_SCHEDULE_ID;
  try {
    await client.schedule.create<typeof reconcileWorkflow>({
      scheduleId,
      spec: { intervals: [{ every: opts.every ?? RECONCILE_INTERVAL }] },
      action: { type: 'startWorkflow', workflowType: RECONCILE_WORKFLOW_TYPE, workflowId: scheduleId, taskQueue: MAIN_TASK_QUEUE, args: [] },
      // A run still going when the next is due makes the next one pointless.
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    });
    return { scheduleId, created: true };
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) return { scheduleId, created: false };
    throw err;
  }
}
