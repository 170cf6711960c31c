// Step 3: which container host a scenario runs on. The later host activities run on that host's
// own task queue.
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import { hostTaskQueue } from '../contract/queues.ts';

export function createHostPickActivities(deps: { hostIds: string[] }) {
  return {
    /** Spreads scenarios over the hosts by a stable hash, so a retry picks the same host. */
    async pickHost(scenarioId: string): Promise<{ hostId: string; taskQueue: string }> {
      const n = createHash('sha256').update(scenarioId).digest().readUInt32BE(0) % deps.hostIds.length;
      const hostId = deps.hostIds[n];
      if (!hostId) throw ApplicationFailure.nonRetryable('no container host configured');
      return { hostId, taskQueue: hostTaskQueue(hostId) };
    },
    /** Every container host, for work that visits each of them (the reconciler). */
    async listHosts(): Promise<Array<{ hostId: string; taskQueue: string }>> {
      return deps.hostIds.map((hostId) => ({ hostId, taskQueue: hostTaskQueue(hostId) }));
    },
  };
}
