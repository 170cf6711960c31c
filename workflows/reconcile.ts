// The reconciler: started by a Temporal Schedule (workers/reconcile-schedule.ts), it asks every
// container host to remove the Arbiter containers whose scenario workflow is closed or unknown,
// and returns what each removed; the result is the report operators read in the Temporal UI.
// One unreachable host does not stop the others: its entry carries the error instead.
import { ActivityFailure, log, proxyActivities } from '@temporalio/workflow';
import type { HostActivities, MainActivities } from '../activities/index.ts';
import type { HostReconcileResult, ReconcileReport } from '../contract/reconcile.ts';

const main = proxyActivities<MainActivities>({ startToCloseTimeout: '30 seconds' });

export async function reconcileWorkflow(): Promise<ReconcileReport> {
  const hosts = await main.listHosts();
  const results = await Promise.all(hosts.map(async ({ hostId, taskQueue }): Promise<HostReconcileResult> => {
    const host = proxyActivities<HostActivities>({
      taskQueue,
      // A host that is down has no worker polling its queue: give up on it for this run.
      scheduleToCloseTimeout: '2 minutes',
      startToCloseTimeout: '1 minute',
      heartbeatTimeout: '15 seconds',
      retry: { maximumAttempts: 3 },
    });
    try {
      return await host.reconcileContainers();
    } catch (err) {
      const cause = err instanceof ActivityFailure && err.cause ? err.cause.message : (err as Error).message;
      return { hostId, removed: [], kept: 0, error: cause };
    }
  }));
  const removed = results.reduce((n, r) => n + r.removed.length, 0);
  log.info('reconciled container hosts', { hosts: results.length, removed, failed: results.filter((r) => r.error).map((r) => r.hostId) });
  return { hosts: results, removed };
}
