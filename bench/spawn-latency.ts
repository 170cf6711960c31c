// Spawn to running: from `POST /api/spawn` to the engine's `start` event of the scenario's
// container, against the raw engine (create + start through dockerode, same image, same
// hardening) timed the same way. Samples alternate between the two, one scenario at a time, each
// cleaned up before the next, so both see the same machine.
import { scenarioContainerName } from '../activities/container-spec.ts';
import { eventMs, RawEngine, wallMs } from './engine.ts';
import { medianSpans, spawnSpans } from './history.ts';
import { percentile, ratioOf, type BenchResult } from './report.ts';
import type { BenchStack } from './stack.ts';

const TARGET_RATIO = 1.25;

export async function runSpawnLatency(stack: BenchStack, opts: { samples: number; warmup: number; log: (line: string) => void }): Promise<BenchResult> {
  const raw = new RawEngine(stack.docker, stack.runId);
  const et = await stack.et('bench-spawn');
  const arbiter: number[] = [];
  const accepted: number[] = [];
  const baseline: number[] = [];
  const breakdown: Array<Record<string, number>> = [];

  const arbiterOnce = async (keep: boolean) => {
    const { sat, scenarioId } = await stack.sat(et);
    const started = stack.events.next('start', scenarioContainerName(scenarioId));
    const t0 = wallMs();
    const r = await stack.call('POST', '/api/spawn', sat, {});
    const t202 = wallMs();
    if (r.status !== 202) throw new Error(`POST /api/spawn answered ${r.status}: ${JSON.stringify(r.json)}`);
    stack.spawned.add(scenarioId);
    const e = await started;
    if (keep) {
      arbiter.push(eventMs(e) - t0);
      accepted.push(t202 - t0);
    }
    // Cancelled and closed before the next sample: no scenario is left running beside it.
    const cancel = await stack.call('POST', `/api/scenarios/${scenarioId}/cancel`, sat);
    if (cancel.status !== 202) throw new Error(`cancel answered ${cancel.status}: ${JSON.stringify(cancel.json)}`);
    await stack.result(scenarioId).catch(() => undefined);
    stack.spawned.delete(scenarioId);
    if (keep) breakdown.push(spawnSpans(await stack.temporal.workflow.getHandle(scenarioId).fetchHistory(), t0, eventMs(e)));
  };
  const rawOnce = async (keep: boolean) => {
    const { name, spec } = raw.spec();
    const started = stack.events.next('start', name);
    const t0 = wallMs();
    const container = await raw.launch(spec);
    const e = await started;
    if (keep) baseline.push(eventMs(e) - t0);
    await raw.teardown(container);
  };

  const cpu = stack.cpu.snapshot();
  for (let i = 0; i < opts.warmup + opts.samples; i++) {
    const keep = i >= opts.warmup;
    // Alternating which goes first cancels any effect of going right after the other.
    if (i % 2 === 0) { await arbiterOnce(keep); await rawOnce(keep); } else { await rawOnce(keep); await arbiterOnce(keep); }
    if (keep && (i - opts.warmup + 1) % 5 === 0) opts.log(`  ${i - opts.warmup + 1}/${opts.samples} samples each`);
  }
  stack.events.forget();
  const cpuSeconds = stack.cpu.since(cpu);
  const where = medianSpans(breakdown);
  opts.log(`  median breakdown (ms): ${JSON.stringify(where)}`);

  const p50 = percentile(arbiter, 50);
  const rawP50 = percentile(baseline, 50);
  const p95 = percentile(arbiter, 95);
  const rawP95 = percentile(baseline, 95);
  return {
    figures: [
      {
        bench: 'spawn', metric: 'spawn → running p50', unit: 'ms', arbiter: p50,
        baseline: { label: 'docker create+start', value: rawP50 }, ratio: ratioOf(p50, rawP50),
        target: { text: `≤ ${TARGET_RATIO}× raw`, met: ratioOf(p50, rawP50) <= TARGET_RATIO },
      },
      {
        bench: 'spawn', metric: 'spawn → running p95', unit: 'ms', arbiter: p95,
        baseline: { label: 'docker create+start', value: rawP95 }, ratio: ratioOf(p95, rawP95),
      },
    ],
    details: {
      samples: opts.samples,
      warmup: opts.warmup,
      arbiterMs: arbiter,
      rawMs: baseline,
      spawnAcceptedMs: { p50: percentile(accepted, 50), p95: percentile(accepted, 95), samples: accepted },
      medianBreakdownMs: where,
      breakdownMs: breakdown,
      cpuSeconds,
    },
  };
}
