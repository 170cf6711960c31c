// The live subject access of one container host's scenarios, shared by the host's access server
// (workers/access-server.ts) and its evidence collection (activities/collect-evidence.ts), which
// closes a scenario here first: new calls are refused, running ones are stopped and recorded, so
// the transcript it copies is the last word.
import { AccessError } from './container-access.ts';
import { TranscriptLog, transcriptDir } from './transcript-log.ts';

export interface ScenarioAccess {
  log: TranscriptLog;
  inflight: Set<AbortController>;
  terminals: Set<{ end(reason: string): Promise<void> }>;
  pending: Set<Promise<unknown>>;
}

/** A call's HTTP answer: it emits `close` once sent whole, or once its connection is gone. */
export interface Answer { once(event: 'close', listener: () => void): unknown }

export class AccessRegistry {
  private readonly scenarios = new Map<string, ScenarioAccess>();
  constructor(readonly storageDir: string) {}

  of(scenarioId: string): ScenarioAccess {
    let s = this.scenarios.get(scenarioId);
    if (!s) {
      s = { log: new TranscriptLog(transcriptDir(this.storageDir, scenarioId)), inflight: new Set(), terminals: new Set(), pending: new Set() };
      this.scenarios.set(scenarioId, s);
    }
    return s;
  }

  /**
   * Tracks one call so that close() can stop it and wait for its entry. A call whose scenario was
   * closed while it was on its way here (looking its container up) is refused: the transcript
   * has already been copied into the evidence, and an answer it does not hold must never be given.
   * Called synchronously after that last await, so a close is either before it or sees the call.
   */
  track<T>(s: ScenarioAccess, work: (signal: AbortSignal) => Promise<T>, answer?: Answer): Promise<T> {
    if (s.log.isClosed()) return Promise.reject(new AccessError(409, 'not_running', 'the scenario ended'));
    const ac = new AbortController();
    s.inflight.add(ac);
    // The call keeps its slot until its answer is gone too: an answer its caller does not read (a
    // file spooled on this host's disk, an exec's output) is held here until it is, so the slots
    // bound how many a scenario can hold at once. close() waits for the work only, never for a reader.
    const answered = answer ? new Promise<void>((resolve) => answer.once('close', () => resolve())) : undefined;
    const p = work(ac.signal).finally(() => {
      s.pending.delete(p);
      if (!answered) s.inflight.delete(ac);
    });
    s.pending.add(p);
    if (answered) void p.then(() => answered, () => answered).then(() => s.inflight.delete(ac));
    return p;
  }

  async close(scenarioId: string, actor: string): Promise<void> {
    const s = this.of(scenarioId);
    s.log.close();
    for (const ac of s.inflight) ac.abort(new AccessError(409, 'not_running', 'the scenario ended'));
    await Promise.all([...s.terminals].map((t) => t.end('scenario_ended')));
    await Promise.allSettled([...s.pending]);
    await s.log.sealOrphans(actor);
    this.scenarios.delete(scenarioId);
  }
}

