// The host side of the reconciler: containers this host created whose scenario workflow is
// closed or unknown are left over (a workflow terminated before its cleanup, a launch retried
// after its workflow was gone) and are removed. Only this host's own containers are judged: the
// engine may be shared with other Arbiter deployments (other Temporal servers, other host ids)
// whose workflows this Temporal server cannot see.
import type Docker from 'dockerode';
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { HostReconcileResult, ReconciledContainer } from '../contract/reconcile.ts';
import { LABELS } from './container-spec.ts';
import { defaultPools, isNotFound, type HostPools } from './launch-and-teardown.ts';
import { poolStateOf } from './pool/pool-logic.ts';

export interface ReconcileDeps { docker: Docker; temporal: Client; hostId: string; pools?: HostPools | undefined }

/** "RUNNING", "COMPLETED", … as Temporal names it, or "UNKNOWN" when no such workflow exists. */
async function workflowStatus(temporal: Client, workflowId: string): Promise<string> {
  try {
    return (await temporal.workflow.getHandle(workflowId).describe()).status.name;
  } catch (err) {
    // Anything but "not found" (Temporal unreachable) is an error: never remove on a guess.
    if (err instanceof WorkflowNotFoundError) return 'UNKNOWN';
    throw err;
  }
}

export function createReconcileActivities(deps: ReconcileDeps) {
  return { reconcileContainers: () => reconcileHost(deps, { heartbeat: () => Context.current().heartbeat(), log: (msg, data) => { Context.current().log.info(msg, data); } }) };
}

/**
 * The pass itself: as the reconciler's activity, or run by the container worker when it starts
 * (a host that comes back after it was lost removes at once what its scenarios left).
 */
export async function reconcileHost(deps: ReconcileDeps, ctx: { heartbeat(): void; log(msg: string, data: Record<string, unknown>): void }): Promise<HostReconcileResult> {
  const pools = deps.pools ?? defaultPools(deps.docker, deps.hostId);
  // Pooled entries (no scenario yet) are judged by the pool rules: a key this host no longer
  // keeps, an incomplete or stopped entry, or no pool configured at all, and they go.
  await pools.reconcile();
  const containers = await deps.docker.listContainers({
    all: true,
    filters: { label: [`${LABELS.managed}=true`, `${LABELS.host}=${deps.hostId}`] },
  });
  const removed: ReconciledContainer[] = [];
  let kept = 0;
  const statuses = new Map<string, string>();
  for (const c of containers) {
    ctx.heartbeat();
    // Claimed from a pool, a container has no scenario label: its name says whose it is.
    const pool = poolStateOf((c.Names[0] ?? '').replace(/^\//, ''), c.Labels);
    if (pool.kind === 'pooled') continue;
    const scenarioId = c.Labels[LABELS.scenario] ?? (pool.kind === 'claimed' ? pool.scenarioId : undefined) ?? '';
    let status = 'UNKNOWN';
    if (scenarioId) {
      status = statuses.get(scenarioId) ?? await workflowStatus(deps.temporal, scenarioId);
      statuses.set(scenarioId, status);
    }
    if (status === 'RUNNING') {
      kept++;
      continue;
    }
    try {
      await deps.docker.getContainer(c.Id).remove({ force: true, v: true });
    } catch (err) {
      // Gone already, or its own workflow's teardown is removing it right now.
      const code = (err as { statusCode?: number }).statusCode;
      if (!isNotFound(err) && code !== 409) throw err;
    }
    removed.push({
      containerName: (c.Names[0] ?? c.Id).replace(/^\//, ''),
      scenarioId,
      role: c.Labels[LABELS.role] ?? '',
      workflowStatus: status,
    });
    ctx.log('reconciler removed a container', { hostId: deps.hostId, containerName: c.Names[0], scenarioId, workflowStatus: status });
  }
  return { hostId: deps.hostId, removed, kept };
}
