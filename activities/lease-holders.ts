// Lets the quota entity find leases whose holder is gone: a scenario workflow that closed without
// releasing (terminated) or that never started.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';

export type HolderState = 'running' | 'closed' | 'missing';

export function createLeaseActivities(deps: { temporal: Client }) {
  async function leaseHolderStates(scenarioIds: string[]): Promise<Record<string, HolderState>> {
    const out: Record<string, HolderState> = {};
    for (const id of scenarioIds) {
      try {
        const d = await deps.temporal.workflow.getHandle(id).describe();
        out[id] = d.status.name === 'RUNNING' ? 'running' : 'closed';
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
        out[id] = 'missing';
      }
    }
    return out;
  }
  return { leaseHolderStates };
}
