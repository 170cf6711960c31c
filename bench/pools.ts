// Spawn → running with a warm pool, against a raw create+start of the same hardened spec and a
// cold spawn (no pool), in one run. "Running" is the moment the subject can use the scenario: the
// launch activity's completion in the workflow's history (server clock, the same machine's), for
// the pooled and the cold spawn alike; for the raw baseline, the engine's answer to `start`.
// Samples rotate between the three, one at a time, each cleaned up before the next; before each
// pooled spawn the pool is back at its minimum, so every pooled sample is a hit (the bench checks
// claim.json says so) and the refill's work is not in anyone's sample.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LABELS } from '../activities/container-spec.ts';
import { RawEngine, wallMs } from './engine.ts';
import { medianSpans, spawnSpans } from './history.ts';
import { percentile, ratioOf, type BenchResult } from './report.ts';
import type { BenchStack } from './stack.ts';

const POOLED_TEMPLATE = 'pooled-flag';
const HIT_P50_TARGET = 0.75;
const HIT_P95_TARGET = 1.0;
const COLD_P50_TARGET = 1.5;
const REFILL_TIMEOUT_MS = 60_000;
/** How often the pool and the scenario's status are looked at; neither is timed by it (the samples come from history). */
const POLL_MS = 50;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Where the spawn's time went until its launch completed (bench/history.ts), from its history. */
async function launchSpans(stack: BenchStack, scenarioId: string, t0: number): Promise<Record<string, number>> {
  const spans = spawnSpans(await stack.temporal.workflow.getHandle(scenarioId).fetchHistory(), t0);
  if (spans.launchActivityUntilRunning === undefined) throw new Error(`${scenarioId}: no completed launch in its history`);
  return spans;
}

export async function runPools(stack: BenchStack, opts: { samples: number; warmup: number; log: (line: string) => void }): Promise<BenchResult> {
  const raw = new RawEngine(stack.docker, stack.runId);
  const et = await stack.et('bench-pools');
  const hit: number[] = [];
  const cold: number[] = [];
  const baseline: number[] = [];
  const claimMs: number[] = [];
  const hitSpans: Array<Record<string, number>> = [];
  const coldSpans: Array<Record<string, number>> = [];
  let misses = 0;

  /** Ready pooled entries of the template on the host (their main container, under its pooled name). */
  const ready = async () => (await stack.docker.listContainers({ all: true, filters: { label: [LABELS.pool, `${LABELS.template}=${POOLED_TEMPLATE}@1`], status: ['running'] } }))
    .filter((c) => /^\/arbiter-pool-[0-9a-f]+-[0-9a-f]+$/.test(c.Names[0] ?? '')).length;
  const refilled = async () => {
    const deadline = Date.now() + REFILL_TIMEOUT_MS;
    while ((await ready()) < 1) {
      if (Date.now() > deadline) throw new Error(`the ${POOLED_TEMPLATE} pool did not refill within ${REFILL_TIMEOUT_MS} ms`);
      await pause(POLL_MS);
    }
  };

  const running = async (scenarioId: string, sat: string) => {
    const deadline = Date.now() + REFILL_TIMEOUT_MS;
    for (;;) {
      const status = (await stack.call('GET', `/api/scenarios/${scenarioId}`, sat)).json?.status;
      if (status === 'running') return;
      if (status !== 'pending' && status !== 'launching') throw new Error(`${scenarioId} is ${String(status)}, not running`);
      if (Date.now() > deadline) throw new Error(`${scenarioId} was not running within ${REFILL_TIMEOUT_MS} ms`);
      await pause(POLL_MS);
    }
  };
  const spawnOnce = async (template: string, into: number[] | undefined, spans: Array<Record<string, number>>) => {
    const { sat, scenarioId } = await stack.sat(et, template);
    const t0 = wallMs();
    await stack.spawn(sat, scenarioId);
    await running(scenarioId, sat);
    if (into) {
      const where = await launchSpans(stack, scenarioId, t0);
      // The spans follow one another from t0 to the launch's completion (the task's pick-up and run are parts of admission).
      into.push(where.apiUntilWorkflowStarted! + where.admissionUntilLaunchScheduled! + where.launchPickup! + where.launchActivityUntilRunning!);
      spans.push(where);
    }
    const claim = template === POOLED_TEMPLATE ? JSON.parse(readFileSync(join(stack.storageDir, 'scenarios', scenarioId, 'claim.json'), 'utf8')) as { pooled: boolean; claimMs?: number } : undefined;
    const cancel = await stack.call('POST', `/api/scenarios/${scenarioId}/cancel`, sat);
    if (cancel.status !== 202) throw new Error(`cancel answered ${cancel.status}: ${JSON.stringify(cancel.json)}`);
    await stack.result(scenarioId).catch(() => undefined);
    stack.spawned.delete(scenarioId);
    if (claim && into) {
      if (!claim.pooled) misses++;
      if (claim.claimMs !== undefined) claimMs.push(claim.claimMs);
    }
  };
  const rawOnce = async (keep: boolean) => {
    const { spec } = raw.spec();
    const t0 = wallMs();
    const container = await raw.launch(spec);
    if (keep) baseline.push(wallMs() - t0);
    await raw.teardown(container);
  };

  opts.log(`  waiting for the ${POOLED_TEMPLATE} pool`);
  await refilled();
  const cpu = stack.cpu.snapshot();
  for (let i = 0; i < opts.warmup + opts.samples; i++) {
    const keep = i >= opts.warmup;
    const order = [
      async () => { await refilled(); await spawnOnce(POOLED_TEMPLATE, keep ? hit : undefined, hitSpans); },
      () => spawnOnce('hello', keep ? cold : undefined, coldSpans),
      () => rawOnce(keep),
    ];
    // Rotating which goes first cancels any effect of going right after another.
    for (let k = 0; k < order.length; k++) await order[(i + k) % order.length]!();
    if (keep && (i - opts.warmup + 1) % 5 === 0) opts.log(`  ${i - opts.warmup + 1}/${opts.samples} samples each`);
  }
  const cpuSeconds = stack.cpu.since(cpu);
  const rawP50 = percentile(baseline, 50);
  const rawP95 = percentile(baseline, 95);
  const hitP50 = percentile(hit, 50);
  const hitP95 = percentile(hit, 95);
  const coldP50 = percentile(cold, 50);
  const note = misses ? `${misses} of ${hit.length} pooled samples found the pool empty` : undefined;
  opts.log(`  pool hit p50 ${hitP50.toFixed(0)} ms, cold p50 ${coldP50.toFixed(0)} ms, raw p50 ${rawP50.toFixed(0)} ms; claim (image checks and renames) p50 ${percentile(claimMs, 50).toFixed(0)} ms`);
  const hitWhere = medianSpans(hitSpans);
  const coldWhere = medianSpans(coldSpans);
  opts.log(`  median breakdown, pool hit (ms): ${JSON.stringify(hitWhere)}`);
  opts.log(`  median breakdown, cold (ms): ${JSON.stringify(coldWhere)}`);
  return {
    figures: [
      {
        bench: 'pools', metric: 'spawn → running p50, pool hit', unit: 'ms', arbiter: hitP50,
        baseline: { label: 'docker create+start', value: rawP50 }, ratio: ratioOf(hitP50, rawP50),
        target: { text: `≤ ${HIT_P50_TARGET}× raw`, met: ratioOf(hitP50, rawP50) <= HIT_P50_TARGET }, ...(note ? { note } : {}),
      },
      {
        bench: 'pools', metric: 'spawn → running p95, pool hit', unit: 'ms', arbiter: hitP95,
        baseline: { label: 'docker create+start', value: rawP95 }, ratio: ratioOf(hitP95, rawP95),
        target: { text: `≤ ${HIT_P95_TARGET}× raw`, met: ratioOf(hitP95, rawP95) <= HIT_P95_TARGET },
      },
      {
        bench: 'pools', metric: 'spawn → running p50, cold (no pool)', unit: 'ms', arbiter: coldP50,
        baseline: { label: 'docker create+start', value: rawP50 }, ratio: ratioOf(coldP50, rawP50),
        target: { text: `≤ ${COLD_P50_TARGET}× raw`, met: ratioOf(coldP50, rawP50) <= COLD_P50_TARGET },
      },
    ],
    details: { samples: opts.samples, warmup: opts.warmup, hitMs: hit, coldMs: cold, rawMs: baseline, claimMs, misses, cpuSeconds, medianBreakdownMs: { hit: hitWhere, cold: coldWhere }, breakdownMs: { hit: hitSpans, cold: coldSpans } },
  };
}
