// A container host says every few seconds that it is alive and how loaded it is: the main worker
// picks hosts by it (activities/pick-host.ts) and declares lost the hosts whose reports stopped
// (workers/host-watch.ts). Written only after the engine answered: a host whose engine is down
// cannot run a scenario, so it stops answering too.
import type Docker from 'dockerode';
import { runningScenarios } from './pool-keeper.ts';
import { HOST_REPORT_INTERVAL_MS, writeHostReport } from '../infra/host-reports.ts';
import type { ArtifactStore } from '../infra/artifact-store.ts';

export interface HostReporter { stop(): void }

export function startHostReporter(opts: {
  docker: Docker;
  /** where the report goes (infra/host-reports.ts) */
  store: ArtifactStore;
  hostId: string;
  capacity: number;
  log: { warn(obj: object, msg: string): void };
  intervalMs?: number;
}): HostReporter {
  let failing = false;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const report = async () => {
    try {
      const running = await runningScenarios(opts.docker, opts.hostId);
      await writeHostReport(opts.store, { hostId: opts.hostId, running, capacity: opts.capacity, reportedAt: Date.now() });
      failing = false;
    } catch (err) {
      // Said once per outage, not every two seconds.
      if (!failing) opts.log.warn({ err: (err as Error).message }, 'host report: could not count this host\'s scenarios or write the report (the main worker stops sending it new ones)');
      failing = true;
    }
    if (!stopped) timer = setTimeout(() => void report(), opts.intervalMs ?? HOST_REPORT_INTERVAL_MS);
  };
  void report();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
