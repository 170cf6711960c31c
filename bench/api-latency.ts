// API accept latency at a fixed rate (autocannon, corrected for coordinated omission) on
// authenticated routes: reading a running scenario with its SAT (JWT check + a workflow query
// answered by the worker) and minting a SAT with an ET. The baseline is GET /healthz on the same
// server at the same rate: the floor of Fastify, loopback and the load generator on this machine.
import autocannon from 'autocannon';
import { scenarioContainerName } from '../activities/container-spec.ts';
import { percentile, ratioOf, type BenchResult, type Figure } from './report.ts';
import type { BenchStack } from './stack.ts';

const TARGET_P99_MS = 50;

interface Load { label: string; method: 'GET' | 'POST'; path: string; token?: string; body?: unknown }

async function fire(base: string, load: Load, rate: number, seconds: number) {
  const headers: Record<string, string> = {};
  if (load.token) headers.authorization = `Bearer ${load.token}`;
  if (load.body !== undefined) headers['content-type'] = 'application/json';
  const r = await autocannon({
    url: `${base}${load.path}`,
    method: load.method,
    headers,
    ...(load.body !== undefined ? { body: JSON.stringify(load.body) } : {}),
    connections: 10,
    overallRate: rate,
    duration: seconds,
  });
  return {
    label: load.label,
    p50: r.latency.p50,
    p99: r.latency.p99,
    max: r.latency.max,
    mean: r.latency.average,
    requests: r.requests.total,
    ok: r['2xx'],
    non2xx: r.non2xx,
    errors: r.errors,
  };
}

export async function runApiLatency(stack: BenchStack, opts: { seconds: number; rate: number; log: (line: string) => void }): Promise<BenchResult> {
  const et = await stack.et('bench-api');
  const { sat, scenarioId } = await stack.sat(et);
  const started = stack.events.next('start', scenarioContainerName(scenarioId));
  const spawned = await stack.call('POST', '/api/spawn', sat, {});
  if (spawned.status !== 202) throw new Error(`POST /api/spawn answered ${spawned.status}: ${JSON.stringify(spawned.json)}`);
  stack.spawned.add(scenarioId);
  await started;

  const loads: Load[] = [
    { label: 'GET /healthz', method: 'GET', path: '/healthz' },
    { label: 'GET /api/scenarios/:id (SAT)', method: 'GET', path: `/api/scenarios/${scenarioId}`, token: sat },
    { label: 'POST /api/sat (ET)', method: 'POST', path: '/api/sat', token: et, body: { template: 'hello', track: 'intro' } },
  ];
  const runs = [];
  for (const load of loads) {
    opts.log(`  ${load.label}: ${opts.rate} req/s for ${opts.seconds} s`);
    const cpu = stack.cpu.snapshot();
    const r = { ...(await fire(stack.base, load, opts.rate, opts.seconds)), cpuSeconds: {} as Record<string, number> };
    r.cpuSeconds = stack.cpu.since(cpu);
    if (r.non2xx > 0 || r.errors > 0) throw new Error(`${load.label}: ${r.non2xx} non-2xx answers and ${r.errors} errors out of ${r.requests}`);
    runs.push(r);
  }
  // What every read costs below the API: the same describe the API sends, straight from a client
  // to the Temporal server at the same fixed rate (sent on schedule, not after the previous answer).
  opts.log(`  Temporal DescribeWorkflowExecution alone: ${opts.rate}/s for ${opts.seconds} s`);
  const describeMs: number[] = [];
  const handle = stack.temporal.workflow.getHandle(scenarioId);
  const sends: Array<Promise<void>> = [];
  const t0 = performance.now();
  for (let i = 0; i < opts.rate * opts.seconds; i++) {
    const due = t0 + (i * 1000) / opts.rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    sends.push(handle.describe().then(() => { describeMs.push(performance.now() - due); }));
  }
  await Promise.all(sends);
  await stack.cancelAll();

  const [health, read, mint] = runs as [typeof runs[0], typeof runs[0], typeof runs[0]];
  const baseline = (v: number) => ({ label: 'GET /healthz', value: v });
  const figure = (metric: string, value: number, base: number, target?: boolean): Figure => ({
    bench: 'api', metric, unit: 'ms', arbiter: value, baseline: baseline(base), ratio: ratioOf(value, base),
    ...(target ? { target: { text: `p99 ≤ ${TARGET_P99_MS} ms`, met: value <= TARGET_P99_MS } } : {}),
  });
  return {
    figures: [
      figure(`GET /api/scenarios/:id p50 @${opts.rate}/s`, read.p50, health.p50),
      figure(`GET /api/scenarios/:id p99 @${opts.rate}/s`, read.p99, health.p99, true),
      figure(`POST /api/sat p50 @${opts.rate}/s`, mint.p50, health.p50),
      figure(`POST /api/sat p99 @${opts.rate}/s`, mint.p99, health.p99, true),
      // Not Arbiter's: the server's part of every read and of every SAT, for reading the two above.
      figure(`Temporal describe alone (no API) p50 @${opts.rate}/s`, percentile(describeMs, 50), health.p50),
      figure(`Temporal describe alone (no API) p99 @${opts.rate}/s`, percentile(describeMs, 99), health.p99),
    ],
    details: { rate: opts.rate, seconds: opts.seconds, connections: 10, runs, describeMs: { p50: percentile(describeMs, 50), p99: percentile(describeMs, 99), max: Math.max(...describeMs), samples: describeMs.length } },
  };
}
