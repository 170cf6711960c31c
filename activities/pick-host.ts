// Step 3: which container host a scenario runs on. The later host activities run on that host's
// own task queue. Hosts are ranked by the free capacity they report (infra/host-reports.ts); one
// whose report stopped coming gets no new scenarios.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { hostTaskQueue } from '../contract/queues.ts';
import { FailureTypes } from '../contract/failures.ts';
import { chooseHost, type HostReport } from './host-choice.ts';
import { HOST_ANSWER_WITHIN_MS, readHostReports } from '../infra/host-reports.ts';
import { LocalArtifactStore, type ArtifactStore } from '../infra/artifact-store.ts';

/** How long a pick waits for some host to answer before the scenario fails for want of one. */
export const NO_HOST_WAIT_MS = 20_000;
/** How soon a pick that found no host is tried again, while it may still wait. */
const NO_HOST_RETRY_MS = 1_000;
/** A pick counts against its host's free capacity this long, until the host's report shows it. */
const PENDING_MS = 5_000;

export interface HostPickDeps {
  hostIds: string[];
  storageDir: string;
  /** where hosts report (default: the storage folder) */
  store?: ArtifactStore | undefined;
  /** tests: the reports, instead of the store's */
  reports?: () => Map<string, HostReport> | Promise<Map<string, HostReport>>;
  noHostWaitMs?: number;
}

export function createHostPickActivities(deps: HostPickDeps) {
  const store = deps.store ?? new LocalArtifactStore(deps.storageDir);
  const reports = deps.reports ?? (() => readHostReports(store, deps.hostIds));
  // This worker's recent picks per host: a burst of spawns between two reports would otherwise
  // all see the same free capacity and go to the same host.
  const picks = new Map<string, number[]>();
  const pending = (now: number) => {
    const counts = new Map<string, number>();
    for (const [hostId, times] of picks) {
      const recent = times.filter((t) => now - t < PENDING_MS);
      picks.set(hostId, recent);
      counts.set(hostId, recent.length);
    }
    return counts;
  };
  return {
    /**
     * The answering host with the most free capacity. With no host answering, the attempt fails
     * and Temporal retries it (a host restarting) until the wait, counted from the pick's first
     * attempt, is over; then it fails for good with the reason: the scenario ends `failed`.
     */
    async pickHost(scenarioId: string): Promise<{ hostId: string; taskQueue: string }> {
      const now = Date.now();
      const choice = chooseHost({ scenarioId, hosts: deps.hostIds, reports: await reports(), pending: pending(now), now, answerWithinMs: HOST_ANSWER_WITHIN_MS });
      if ('hostId' in choice) {
        picks.set(choice.hostId, [...(picks.get(choice.hostId) ?? []), now]);
        return { hostId: choice.hostId, taskQueue: hostTaskQueue(choice.hostId) };
      }
      // The first attempt's schedule time, which every retry of it (local or not) keeps.
      const firstScheduledMs = Context.current().info.scheduledTimestampMs;
      const waitMs = deps.noHostWaitMs ?? NO_HOST_WAIT_MS;
      if (now - firstScheduledMs >= waitMs) throw ApplicationFailure.nonRetryable(choice.none, FailureTypes.noHostAvailable);
      throw ApplicationFailure.create({ message: `${choice.none}; trying again`, type: FailureTypes.noHostAvailable, nextRetryDelay: NO_HOST_RETRY_MS });
    },
    /** Every container host, for work that visits each of them (the reconciler). */
    async listHosts(): Promise<Array<{ hostId: string; taskQueue: string }>> {
      return deps.hostIds.map((hostId) => ({ hostId, taskQueue: hostTaskQueue(hostId) }));
    },
  };
}
