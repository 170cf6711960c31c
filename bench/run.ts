// `npm run bench [-- <bench>…] [--quick]`: runs the benchmarks (all of them by default, in the
// order below), prints one table of every figure against its same-run baseline, and writes
// bench/results/<time>.json; a full run also writes bench/results/latest.{json,md}. Whatever it
// started (the stack's processes, containers, scenarios) is stopped even when a bench fails.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { describeMachine, machineLine, type Machine } from './machine.ts';
import { markdownTable, notes, textTable, type BenchResult, type Figure } from './report.ts';
import { REPO, startBenchStack, type BenchStack } from './stack.ts';
import { runVerdicts } from './verdicts.ts';
import { runSpawnLatency } from './spawn-latency.ts';
import { runApiLatency } from './api-latency.ts';
import { runThroughput } from './throughput.ts';
import { runOpenScenarios } from './open-scenarios.ts';
import { runAccess } from './access.ts';
import { runPods } from './pods.ts';
import { runPools } from './pools.ts';

interface Ctx { stack: () => Promise<BenchStack>; quick: boolean; log: (line: string) => void }
interface Bench { name: string; what: string; run(ctx: Ctx): Promise<BenchResult> }

const BENCHES: Bench[] = [
  { name: 'verdicts', what: 'Ed25519 sign/verify and `arbiter verify` over 1,000 folders', run: (c) => runVerdicts({ log: c.log, folders: c.quick ? 200 : 1000 }) },
  { name: 'spawn', what: 'spawn → running vs raw create+start', run: async (c) => runSpawnLatency(await c.stack(), { samples: c.quick ? 5 : 25, warmup: 2, log: c.log }) },
  { name: 'api', what: 'API accept latency at 50 req/s', run: async (c) => runApiLatency(await c.stack(), { seconds: c.quick ? 5 : 30, rate: 50, log: c.log }) },
  { name: 'pools', what: 'spawn → running from a warm pool and cold vs raw create+start', run: async (c) => runPools(await c.stack(), { samples: c.quick ? 5 : 20, warmup: 2, log: c.log }) },
  {
    name: 'throughput', what: 'completed scenarios per minute at concurrency 1, 8, 16 on the dev server; at 16 on the cluster shape (Temporal on PostgreSQL, two hosts)',
    run: async (c) => {
      const dev = await runThroughput(await c.stack(), { levels: c.quick ? [[1, 2], [8, 8], [16, 16]] : [[1, 6], [8, 24], [16, 48]], log: c.log });
      // BENCH_THROUGHPUT_DEV_ONLY=1: the dev server's levels only (a quicker loop while working on them)
      if (process.env.BENCH_THROUGHPUT_DEV_ONLY === '1') return { figures: dev.figures, details: { dev: dev.details } };
      const cluster = await withClusterStack(c, (stack) => runThroughput(stack, { levels: c.quick ? [[16, 16]] : [[16, 48]], log: c.log, shapeLabel: 'cluster: Temporal on PostgreSQL, 2 hosts' }));
      return { figures: [...dev.figures, ...cluster.figures], details: { dev: dev.details, cluster: cluster.details } };
    },
  },
  { name: 'open', what: 'worker RSS and engine memory with 100…500 open scenarios', run: async (c) => runOpenScenarios(await c.stack(), { levels: c.quick ? [20, 40] : [100, 250, 500], rawLevel: c.quick ? 20 : 100, rampBudgetSeconds: c.quick ? 120 : 330, log: c.log }) },
  {
    name: 'access', what: 'exec, 1 and 50 MiB file transfers and terminal echo vs raw docker exec / archive API',
    run: async (c) => runAccess(await c.stack(), {
      execSamples: c.quick ? 50 : 200, execWarmup: c.quick ? 5 : 20,
      fileSamples: c.quick ? [{ bytes: 1024 * 1024, samples: 5 }, { bytes: 50 * 1024 * 1024, samples: 2 }] : [{ bytes: 1024 * 1024, samples: 30 }, { bytes: 50 * 1024 * 1024, samples: 8 }],
      keystrokes: c.quick ? 30 : 100, log: c.log,
    }),
  },
  {
    name: 'pods', what: 'web-recon spawn → all services ready vs a raw pod; runsc vs runc, raw and through the stack',
    run: async (c) => runPods(await c.stack(), { podSamples: c.quick ? 3 : 10, runtimeSamples: c.quick ? 4 : 15, stackRuntimeSamples: c.quick ? 3 : 8, warmup: 1, log: c.log }),
  },
];

/**
 * The same bench on the cluster shape: `scripts/cluster.sh up` (taken down again afterwards if
 * this run brought it up), a bench stack on it, stopped when the bench is done.
 */
async function withClusterStack(c: Ctx, body: (stack: BenchStack) => Promise<BenchResult>): Promise<BenchResult> {
  const cluster = (...args: string[]) => execFileSync('bash', [join(REPO, 'scripts', 'cluster.sh'), ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  const wasUp = /Temporal server: serving/.test(cluster('status'));
  c.log(wasUp ? 'cluster shape: already up (scripts/cluster.sh)' : 'cluster shape: bash scripts/cluster.sh up');
  if (!wasUp) c.log(cluster('up').trim().split('\n').join('; '));
  let stack: BenchStack | undefined;
  try {
    stack = await startBenchStack({ temporalBin: temporalBin(), log: c.log, shape: 'cluster' });
    return await body(stack);
  } finally {
    await stack?.stop();
    if (!wasUp) {
      c.log('cluster shape: bash scripts/cluster.sh down --remove-containers');
      cluster('down', '--remove-containers');
    }
  }
}

function temporalBin(): string {
  const file = join(REPO, '.data', 'tools.env');
  const line = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith('TEMPORAL_BIN='));
  if (!line) throw new Error(`TEMPORAL_BIN missing from ${file}: run scripts/bootstrap.sh`);
  return line.slice('TEMPORAL_BIN='.length);
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const names = args.filter((a) => !a.startsWith('--'));
  const unknown = names.filter((n) => !BENCHES.some((b) => b.name === n));
  if (unknown.length) {
    console.error(`unknown bench: ${unknown.join(', ')} (known: ${BENCHES.map((b) => b.name).join(', ')})`);
    return 2;
  }
  const selected = names.length ? BENCHES.filter((b) => names.includes(b.name)) : BENCHES;
  const full = selected.length === BENCHES.length && !quick;
  const log = (line: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);

  const docker = new Docker({ socketPath: process.env.DOCKER_SOCKET ?? '/var/run/docker.sock' });
  const bin = temporalBin();
  const machine: Machine = await describeMachine(docker, bin);
  log(`machine: ${machineLine(machine)}`);

  let stack: BenchStack | undefined;
  let starting: Promise<BenchStack> | undefined;
  const ctx: Ctx = { quick, log, stack: () => (starting ??= startBenchStack({ temporalBin: bin, log }).then((s) => (stack = s))) };

  let stopping: Promise<void> | undefined;
  // Called by the run's end and by a signal, whichever comes first; both wait for the one stop.
  const stopAll = (keepLogs: boolean): Promise<void> => (stopping ??= (async () => {
    if (starting) await starting.catch(() => undefined);
    if (stack) {
      log('stopping the stack and removing what the bench created');
      await stack.stop({ keepLogs });
    }
  })());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping`);
      void stopAll(true).finally(() => process.exit(130));
    });
  }

  const figures: Figure[] = [];
  const details: Record<string, unknown> = {};
  const started = new Date();
  // Other work on the machine skews absolute figures (less so the same-run ratios): say how busy it was.
  const loadAtStart = os.loadavg()[0]!;
  let failed: unknown;
  try {
    for (const bench of selected) {
      log(`▶ ${bench.name}: ${bench.what}`);
      const t0 = performance.now();
      const result = await bench.run(ctx);
      figures.push(...result.figures);
      details[bench.name] = { ...result.details, seconds: Math.round((performance.now() - t0) / 1000) };
      console.log(`\n${[textTable(result.figures), ...notes(result.figures)].join('\n')}\n`);
    }
  } catch (err) {
    failed = err;
    console.error(err);
  } finally {
    await stopAll(failed !== undefined || process.env.BENCH_KEEP_LOGS === '1');
  }

  const seconds = Math.round((Date.now() - started.getTime()) / 1000);
  const load = { start: Math.round(loadAtStart * 100) / 100, end: Math.round(os.loadavg()[0]! * 100) / 100 };
  const report = { startedAt: started.toISOString(), seconds, quick, machine, loadAverage1m: load, benches: selected.map((b) => b.name), figures, details, ...(failed ? { failed: failed instanceof Error ? failed.message : JSON.stringify(failed) } : {}) };
  const dir = join(REPO, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = started.toISOString().replaceAll(':', '-').replace(/\..*/, '');
  writeFileSync(join(dir, `${stamp}.json`), JSON.stringify(report, null, 2));
  if (figures.length) {
    console.log(`\nAll figures (${seconds} s):\n\n${[textTable(figures), ...notes(figures)].join('\n')}\n`);
    console.log(`machine: ${machineLine(machine)}; load average ${load.start} → ${load.end}`);
  }
  if (full && !failed) {
    writeFileSync(join(dir, 'latest.json'), JSON.stringify(report, null, 2));
    writeFileSync(join(dir, 'latest.md'), [
      '# Latest benchmark run',
      '',
      `Run by \`npm run bench\` on ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, ${seconds} s in all. Every baseline was measured in the same run on the same machine; ratios are Arbiter ÷ baseline.`,
      '',
      `Machine: ${machineLine(machine)}. One-minute load average ${load.start} at the start and ${load.end} at the end of the run (${machine.cores} cores).`,
      '',
      markdownTable(figures),
      '',
      ...(notes(figures).length ? [...notes(figures), ''] : []),
      'Raw samples and settings: `bench/results/latest.json` (not committed; written by the same run).',
      '',
    ].join('\n'));
    log(`wrote bench/results/latest.md and ${stamp}.json`);
  } else {
    log(`wrote bench/results/${stamp}.json${full ? '' : ' (latest.md is only written by a full run)'}`);
  }
  return failed ? 1 : 0;
}

process.exitCode = await main();
