// Many scenarios open at once, each running and waiting for its completion: the workers' resident
// memory (they run as child processes, so their RSS is theirs alone) and the engine's memory
// (dockerd and containerd, one shim per container, the containers' cgroups). Baselines: the same
// processes idle, before the ramp, and the engine with as many raw containers of the same spec.
import { scenarioContainerName } from '../activities/container-spec.ts';
import { statusQuery } from '../contract/scenario.ts';
import { engineMemory, RawEngine, type EngineMemory } from './engine.ts';
import { rssBytes } from './processes.ts';
import { ratioOf, type BenchResult, type Figure } from './report.ts';
import type { BenchStack } from './stack.ts';

const TARGET_RSS_MB = 400;
const MB = 2 ** 20;
const SPAWN_LANES = 8;
const PER_SUBJECT = 20; // the enterprise plan's concurrent scenarios per subject

interface Sample { open: number; rss: Record<string, number>; workersMb: number; engine: EngineMemory; engineMb: number; rampSeconds: number }

function processRss(stack: BenchStack): Record<string, number> {
  const mb = (pid: number | undefined) => (pid === undefined ? Number.NaN : (rssBytes(pid) ?? Number.NaN) / MB);
  const { mainWorker, containerWorker, api, temporal } = stack.children;
  return { mainWorker: mb(mainWorker.proc.pid), containerWorker: mb(containerWorker.proc.pid), api: mb(api.proc.pid), temporal: mb(temporal?.proc.pid) };
}

const engineTotalMb = (e: EngineMemory) => (e.daemonsBytes + e.shimsBytes + e.containersBytes) / MB;

async function inLanes<T>(items: readonly T[], lanes: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: lanes }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

export async function runOpenScenarios(stack: BenchStack, opts: { levels: number[]; rawLevel: number; rampBudgetSeconds: number; log: (line: string) => void }): Promise<BenchResult> {
  const raw = new RawEngine(stack.docker, stack.runId);

  // Baseline 1: the engine with `rawLevel` raw containers of the same spec, running.
  opts.log(`  raw baseline: ${opts.rawLevel} containers of the same spec`);
  const idleEngine = engineMemory([]);
  const rawContainers: string[] = [];
  let rawEngine: EngineMemory;
  try {
    await inLanes(Array.from({ length: opts.rawLevel }, (_, i) => i), SPAWN_LANES, async () => {
      const { spec } = raw.spec();
      rawContainers.push((await raw.launch(spec)).id);
    });
    rawEngine = engineMemory(rawContainers);
  } finally {
    await inLanes([...rawContainers], SPAWN_LANES, async (id) => { await stack.docker.getContainer(id).remove({ force: true, v: true }); });
  }

  // Baseline 2: the stack's processes idle, after everything before this bench.
  const idle = processRss(stack);
  opts.log(`  idle: main worker ${idle.mainWorker!.toFixed(0)} MB, container worker ${idle.containerWorker!.toFixed(0)} MB`);

  const open: string[] = [];
  const containerIds: string[] = [];
  const samples: Sample[] = [];
  const ets = new Map<number, string>();
  let spawnedCount = 0;
  const t0 = performance.now();
  const cpu = stack.cpu.snapshot();
  let rampCpu: Record<string, number> = {};
  let cleanupCpu: Record<string, number> = {};
  let cleanupSeconds = 0;
  let stoppedEarly: string | undefined;
  try {
    for (const level of opts.levels) {
      const todo = level - open.length;
      const deadline = t0 + opts.rampBudgetSeconds * 1000;
      await inLanes(Array.from({ length: todo }, (_, i) => i), SPAWN_LANES, async () => {
        if (performance.now() > deadline) return;
        const subject = Math.floor(spawnedCount++ / PER_SUBJECT);
        if (!ets.has(subject)) ets.set(subject, await stack.et(`bench-open-${subject}`));
        const { sat, scenarioId } = await stack.sat(ets.get(subject)!);
        const started = stack.events.next('start', scenarioContainerName(scenarioId), 300_000);
        await stack.spawn(sat, scenarioId);
        containerIds.push((await started).id);
        open.push(scenarioId);
      });
      // Every one of them is running and waiting for its completion, as its workflow says.
      await inLanes([...open], 16, async (id) => {
        const s = await stack.temporal.workflow.getHandle(id).query(statusQuery);
        if (s.status !== 'running') throw new Error(`${id} is ${s.status}, not running`);
      });
      const rampSeconds = (performance.now() - t0) / 1000;
      const rss = processRss(stack);
      const engine = engineMemory(containerIds);
      samples.push({ open: open.length, rss, workersMb: rss.mainWorker! + rss.containerWorker!, engine, engineMb: engineTotalMb(engine), rampSeconds });
      opts.log(`  ${open.length} open after ${rampSeconds.toFixed(0)} s: workers ${(rss.mainWorker! + rss.containerWorker!).toFixed(0)} MB (main ${rss.mainWorker!.toFixed(0)}, container ${rss.containerWorker!.toFixed(0)}), engine ${engineTotalMb(engine).toFixed(0)} MB`);
      if (open.length < level) {
        stoppedEarly = `the ramp budget (${opts.rampBudgetSeconds} s) ran out at ${open.length} of ${level} open scenarios`;
        opts.log(`  ${stoppedEarly}`);
        break;
      }
    }
  } finally {
    rampCpu = stack.cpu.since(cpu);
    opts.log(`  cancelling ${stack.spawned.size} open scenarios`);
    const c0 = performance.now();
    const cpu2 = stack.cpu.snapshot();
    await stack.cancelAll(16);
    cleanupCpu = stack.cpu.since(cpu2);
    cleanupSeconds = Math.round((performance.now() - c0) / 1000);
    opts.log(`  cancelled and cleaned up in ${cleanupSeconds} s`);
  }

  const figures: Figure[] = [];
  // Each worker is its own process (its own RSS, its own limit in a deployment): the target holds
  // for each. The main worker holds the open workflows; the container worker, their containers.
  const last = samples.at(-1);
  for (const s of samples) {
    for (const [key, label] of [['mainWorker', 'main worker'], ['containerWorker', 'container worker']] as const) {
      const atTarget = s === last;
      figures.push({
        bench: 'open', metric: `${label} RSS @${s.open} open`, unit: 'MB', arbiter: s.rss[key]!,
        baseline: { label: 'same process idle', value: idle[key]! }, ratio: ratioOf(s.rss[key]!, idle[key]!),
        ...(atTarget ? { target: { text: `≤ ${TARGET_RSS_MB} MB @500`, met: s.rss[key]! <= TARGET_RSS_MB && s.open >= 500 } } : {}),
        ...(atTarget && s.open < 500 ? { note: stoppedEarly } : {}),
      });
    }
  }
  const atRaw = samples.find((s) => s.open === opts.rawLevel);
  if (atRaw) {
    const perArbiter = (atRaw.engineMb - engineTotalMb(idleEngine)) / atRaw.open;
    const perRaw = (engineTotalMb(rawEngine) - engineTotalMb(idleEngine)) / opts.rawLevel;
    figures.push({
      bench: 'open', metric: `engine memory per open scenario @${opts.rawLevel}`, unit: 'MB', arbiter: perArbiter,
      baseline: { label: 'raw container, same spec', value: perRaw }, ratio: ratioOf(perArbiter, perRaw),
    });
  }
  if (last && last !== atRaw) {
    figures.push({ bench: 'open', metric: `engine memory @${last.open} open (daemons + shims + cgroups)`, unit: 'MB', arbiter: last.engineMb });
  }
  return {
    figures,
    details: { retried503: { ...stack.retried }, idle, idleEngine, rawLevel: opts.rawLevel, rawEngine, samples, stoppedEarly, spawnLanes: SPAWN_LANES, rampCpu, cleanupSeconds, cleanupCpu },
  };
}
