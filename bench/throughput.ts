// Completed scenarios per minute at a concurrency: each lane spawns a hello scenario, completes it
// as the scenario host once its container runs, and waits for the signed verdict (status scored).
// The baseline is a raw loop doing the same container lifecycle through dockerode (create and
// start the scenario container, stop and remove it, run the scorer container over an evidence
// folder), at the same concurrency, right after.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { scenarioContainerName } from '../activities/container-spec.ts';
import { machineBusySeconds } from './cpu.ts';
import { RawEngine, wallMs } from './engine.ts';
import { medianProfile, profileHistory } from './history.ts';
import { frontendRequests, requestsPerScenario } from './server-requests.ts';
import { percentile, ratioOf, type BenchResult, type Figure } from './report.ts';
import type { BenchStack } from './stack.ts';

const TARGET_RATIO_AT_16 = 0.6;
/** CPU seconds per completed scenario, every process of the stack and the engine together */
const TARGET_CPU_PER_SCENARIO = 0.3;
/** events in one scored scenario's history */
const TARGET_HISTORY_EVENTS = 40;

/** Runs `count` jobs on `concurrency` lanes; returns completions per minute and each job's ms. */
async function lanes(concurrency: number, count: number, job: (lane: number) => Promise<void>): Promise<{ perMinute: number; jobMs: number[] }> {
  let next = 0;
  const jobMs: number[] = [];
  const t0 = wallMs();
  await Promise.all(Array.from({ length: concurrency }, async (_, lane) => {
    while (next < count) {
      next++;
      const s = wallMs();
      await job(lane);
      jobMs.push(wallMs() - s);
    }
  }));
  return { perMinute: (count / (wallMs() - t0)) * 60_000, jobMs };
}

const cores = availableParallelism();

/** The whole machine over one measurement: how many cores were busy on average, and per scenario. */
function machineUse(busySeconds: number, perMinute: number, count: number): { busySeconds: number; coresBusy: number; busyPerScenario: number } {
  const wallSeconds = (count / perMinute) * 60;
  const round = (v: number) => Math.round(v * 1000) / 1000;
  return { busySeconds: round(busySeconds), coresBusy: round(busySeconds / wallSeconds), busyPerScenario: round(busySeconds / count) };
}

/** CPU seconds per completed scenario of each process (the bench's own left out), rounded. */
function perScenarioByProcess(cpu: Record<string, number>, count: number): Record<string, number> {
  return Object.fromEntries(Object.entries(cpu).filter(([name]) => name !== 'bench' && name !== 'total').map(([name, v]) => [name, Math.round((v / count) * 1000) / 1000]));
}

export async function runThroughput(stack: BenchStack, opts: { levels: Array<[concurrency: number, count: number]>; log: (line: string) => void; shapeLabel?: string }): Promise<BenchResult> {
  const shape = opts.shapeLabel ? ` (${opts.shapeLabel})` : '';
  const raw = new RawEngine(stack.docker, stack.runId);
  const scorerImage = await raw.scorerImageId();
  const work = mkdtempSync(join(tmpdir(), 'arbiter-bench-throughput-'));
  // The evidence a hello scorer reads: the container's log and the submission.
  const evidence = join(work, 'evidence');
  mkdirSync(evidence, { mode: 0o755 });
  writeFileSync(join(evidence, 'container.log'), 'hello, arbiter: scenario started\n', { mode: 0o644 });
  writeFileSync(join(evidence, 'submission.json'), JSON.stringify({ answer: 'hello' }), { mode: 0o644 });

  const ets = new Map<number, string>();
  let completed: string[] = [];
  const arbiterScenario = async (lane: number) => {
    if (!ets.has(lane)) ets.set(lane, await stack.et(`bench-tp-${lane}`));
    const { sat, scenarioId } = await stack.sat(ets.get(lane)!);
    const started = stack.events.next('start', scenarioContainerName(scenarioId));
    await stack.spawn(sat, scenarioId);
    await started;
    await stack.complete(scenarioId);
    const final = await stack.result(scenarioId);
    if (final.status !== 'scored' || final.score?.passed !== true) throw new Error(`${scenarioId} ended ${final.status}: ${final.reason ?? ''}`);
    stack.spawned.delete(scenarioId);
    completed.push(scenarioId);
  };
  const rawScenario = async () => {
    const { spec } = raw.spec();
    const container = await raw.launch(spec);
    await raw.teardown(container);
    const out = await raw.score(evidence, scorerImage);
    if (!out.includes('"passed":true')) throw new Error(`raw scorer did not pass: ${out}`);
  };

  const figures: Figure[] = [];
  const levels: Record<string, unknown>[] = [];
  try {
    for (const [concurrency, count] of opts.levels) {
      opts.log(`  concurrency ${concurrency}: ${count} scenarios through Arbiter, then ${count} raw lifecycles`);
      const retriedBefore = Object.values(stack.retried).reduce((a, b) => a + b, 0);
      // Read outside the CPU count: the dev server's metrics page is megabytes of text to render.
      const requestsBefore = stack.temporalMetrics ? frontendRequests(await stack.temporalMetrics()) : undefined;
      let cpu = stack.cpu.snapshot();
      let busy = machineBusySeconds();
      const arbiter = await lanes(concurrency, count, arbiterScenario);
      const arbiterCpu = stack.cpu.since(cpu);
      const arbiterMachine = machineUse(machineBusySeconds() - busy, arbiter.perMinute, count);
      const retried = Object.values(stack.retried).reduce((a, b) => a + b, 0) - retriedBefore;
      cpu = stack.cpu.snapshot();
      busy = machineBusySeconds();
      const baseline = await lanes(concurrency, count, rawScenario);
      const rawCpu = stack.cpu.since(cpu);
      const rawMachine = machineUse(machineBusySeconds() - busy, baseline.perMinute, count);
      // Read after the raw loop, which asks the service nothing: the server flushes its counters
      // about once a second, so a reading right after the last scenario would miss its last requests.
      const requests = requestsBefore && stack.temporalMetrics ? requestsPerScenario(requestsBefore, frontendRequests(await stack.temporalMetrics()), count) : undefined;
      // Read after the timing, so the history fetches do not load the stack while it is measured.
      const profiles = await Promise.all(completed.slice(0, 12).map(async (id) => profileHistory(await stack.temporal.workflow.getHandle(id).fetchHistory())));
      completed = [];
      const where = medianProfile(profiles);
      opts.log(`    Arbiter ${arbiter.perMinute.toFixed(1)}/min, raw ${baseline.perMinute.toFixed(1)}/min; median scenario (ms): ${JSON.stringify(where)}`);
      opts.log(`    CPU s Arbiter ${JSON.stringify(arbiterCpu)}; raw ${JSON.stringify(rawCpu)}`);
      opts.log(`    CPU s per completed scenario by process: ${JSON.stringify(perScenarioByProcess(arbiterCpu, count))}`);
      opts.log(`    whole machine: Arbiter ${arbiterMachine.coresBusy} of ${cores} cores busy, ${arbiterMachine.busyPerScenario} CPU s per scenario; raw ${rawMachine.coresBusy} cores, ${rawMachine.busyPerScenario} s`);
      if (requests) opts.log(`    Temporal frontend requests per completed scenario: ${JSON.stringify(requests)}`);
      stack.events.forget();
      const ratio = ratioOf(arbiter.perMinute, baseline.perMinute);
      if (concurrency === 16) {
        // The bench's own process (the clients) is not Arbiter's cost.
        const perScenario = (cpu: Record<string, number>) => ((cpu.total ?? 0) - (cpu.bench ?? 0)) / count;
        const arbiterPer = perScenario(arbiterCpu);
        const rawPer = perScenario(rawCpu);
        // What the Temporal service costs: the server, and in the cluster shape PostgreSQL under it.
        const temporalPer = ((arbiterCpu.temporal ?? 0) + (arbiterCpu.postgres ?? 0)) / count;
        figures.push({
          bench: 'throughput', metric: `Temporal service CPU-seconds per completed scenario @16${shape}`, unit: 's', arbiter: temporalPer,
          note: arbiterCpu.postgres !== undefined ? `Temporal server ${((arbiterCpu.temporal ?? 0) / count).toFixed(3)} s + PostgreSQL ${(arbiterCpu.postgres / count).toFixed(3)} s` : 'the dev server (SQLite in process)',
        });
        figures.push({
          bench: 'throughput', metric: `CPU-seconds per completed scenario @16${shape}`, unit: 's', arbiter: arbiterPer,
          baseline: { label: 'raw lifecycle loop', value: rawPer }, ratio: ratioOf(arbiterPer, rawPer),
          target: { text: `≤ ${TARGET_CPU_PER_SCENARIO} s`, met: arbiterPer <= TARGET_CPU_PER_SCENARIO },
        });
        // A count, not a timing: no baseline to divide by.
        const events = where.events ?? Number.NaN;
        figures.push({
          bench: 'throughput', metric: `history events per completed scenario${shape}`, unit: 'events', arbiter: events,
          target: { text: `≤ ${TARGET_HISTORY_EVENTS}`, met: events <= TARGET_HISTORY_EVENTS },
        });
      }
      figures.push({
        bench: 'throughput', metric: `completed scenarios/min @${concurrency}${shape}`, unit: '/min', arbiter: arbiter.perMinute,
        baseline: { label: 'raw lifecycle loop', value: baseline.perMinute }, ratio,
        ...(concurrency === 16 ? { target: { text: `≥ ${TARGET_RATIO_AT_16}× raw`, met: ratio >= TARGET_RATIO_AT_16 } } : {}),
        ...(retried ? { note: `${retried} requests answered 503 entitlements_unavailable and were retried` } : {}),
      });
      levels.push({
        concurrency, count, retried503: retried,
        arbiter: { perMinute: arbiter.perMinute, scenarioMs: { p50: percentile(arbiter.jobMs, 50), p95: percentile(arbiter.jobMs, 95) }, cpuSeconds: arbiterCpu, cpuSecondsPerScenario: perScenarioByProcess(arbiterCpu, count), machine: arbiterMachine, medianHistoryMs: where, ...(requests ? { temporalFrontendRequestsPerScenario: requests } : {}) },
        raw: { perMinute: baseline.perMinute, lifecycleMs: { p50: percentile(baseline.jobMs, 50), p95: percentile(baseline.jobMs, 95) }, cpuSeconds: rawCpu, machine: rawMachine },
      });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { figures, details: { levels } };
}
