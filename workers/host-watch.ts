// The main worker's watch over the container hosts: a host whose reports stopped for
// ARBITER_HOST_LOST_SECONDS is lost, and each open scenario on it is told so (hostLostSignal):
// it ends failed, host_lost, instead of waiting on a queue no worker polls. Scenarios are found
// through visibility (their memo holds the host they run on), only while a host is lost, so a
// healthy cluster pays nothing for it. Several main workers may each send the signal: the
// scenario takes the first.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { MEMO, SCENARIO_WORKFLOW_TYPE } from '../contract/queues.ts';
import { hostLostSignal, TERMINAL_STATUSES, type ScenarioState } from '../contract/scenario.ts';
import { lostHosts } from '../activities/host-choice.ts';
import { HOST_REPORT_INTERVAL_MS, readHostReports } from '../infra/host-reports.ts';
import type { ArtifactStore } from '../infra/artifact-store.ts';

/** How often a host that stays lost is swept again (scenarios picked for it just before it was found lost). */
const SWEEP_AGAIN_MS = 15_000;

export interface HostWatch { stop(): Promise<void> }

export function startHostWatch(opts: {
  client: Client;
  /** where the hosts report (infra/host-reports.ts) */
  store: ArtifactStore;
  hosts: readonly string[];
  lostAfterMs: number;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  tickMs?: number;
}): HostWatch {
  const sweptAt = new Map<string, number>();
  const told = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let running: Promise<void> = Promise.resolve();

  async function sweep(hostId: string, lastReportAt: string): Promise<void> {
    const query = `WorkflowType = '${SCENARIO_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'`;
    let n = 0;
    for await (const wf of opts.client.workflow.list({ query })) {
      const state = wf.memo?.[MEMO.scenarioState] as ScenarioState | undefined;
      if (!state || state.hostId !== hostId || TERMINAL_STATUSES.includes(state.status) || told.has(wf.workflowId)) continue;
      try {
        await opts.client.workflow.getHandle(wf.workflowId, wf.runId).signal(hostLostSignal, { hostId, lastReportAt });
      } catch (err) {
        // Ended since the listing (visibility lags): nothing to tell it.
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
      told.add(wf.workflowId);
      n++;
    }
    if (n > 0) opts.log.warn({ hostId, lastReportAt, scenarios: n }, 'container host lost: its open scenarios are ending (host_lost)');
  }

  async function tick(): Promise<void> {
    const now = Date.now();
    const reports = await readHostReports(opts.store, opts.hosts);
    const lost = new Set(lostHosts({ hosts: opts.hosts, reports, now, lostAfterMs: opts.lostAfterMs }));
    for (const hostId of opts.hosts) {
      if (!lost.has(hostId)) {
        if (sweptAt.delete(hostId)) opts.log.info({ hostId }, 'container host answers again');
        continue;
      }
      if (now - (sweptAt.get(hostId) ?? 0) < SWEEP_AGAIN_MS) continue;
      sweptAt.set(hostId, now);
      await sweep(hostId, new Date(reports.get(hostId)!.reportedAt).toISOString());
    }
  }

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick().catch((err: unknown) => opts.log.warn({ err: (err as Error).message }, 'host watch: could not check the container hosts')).finally(schedule);
    }, opts.tickMs ?? HOST_REPORT_INTERVAL_MS);
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
