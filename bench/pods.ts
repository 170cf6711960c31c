// Pods and runtimes, each against the raw engine doing the same thing through dockerode from this
// process, measured in the same run:
// - a two-service scenario (web-recon: a namespace holder, the workstation and the target joined
//   to it): from POST /api/spawn until the launch activity returned, every service started and the
//   target's readiness command answered (the workflow history's timestamp), against creating the
//   same three containers from the same hardened specs (activities/container-spec.ts podMembers),
//   starting them in the same order and running the same readiness command until it exits 0;
// - gVisor against runc on the raw engine: create + start of the same hardened single-service spec
//   (hello-gvisor's image and limits; only the runtime and the process cap it implies differ) until
//   the engine's start event, until a first exec answers, an exec's round trip, and the teardown;
// - through the stack: spawn → running (the engine's start event) of hello-gvisor against hello.
// Samples alternate between the two sides, one scenario at a time, each removed before the next.
import { randomUUID } from 'node:crypto';
import type Docker from 'dockerode';
import { podMembers, type PodMember } from '../activities/container-spec.ts';
import { READINESS_POLL_MS } from '../activities/launch-and-teardown.ts';
import { execInContainer } from '../infra/container-access.ts';
import { loadTemplate, type Template } from '../infra/template.ts';
import { scenarioContainerName } from '../contract/containers.ts';
import { BENCH_LABEL, eventMs, wallMs } from './engine.ts';
import { eventTimeMs } from './history.ts';
import { percentile, ratioOf, type BenchResult, type Figure } from './report.ts';
import type { BenchStack } from './stack.ts';

export interface PodsOptions {
  /** web-recon spawns (and as many raw pods) */
  podSamples: number;
  /** raw single-container launches per runtime */
  runtimeSamples: number;
  /** hello-gvisor and hello spawns each through the stack; 0 skips that part */
  stackRuntimeSamples: number;
  warmup: number;
  log: (line: string) => void;
}

const round = (v: number) => Math.round(v * 10) / 10;
const p = (xs: number[], q: number) => round(percentile(xs, q));

/** The limits a scenario of `template` gets on the enterprise plan (the template's are tighter). */
function members(template: Template, scenarioId: string, runId: string): PodMember[] {
  const list = podMembers({ scenarioId, tenant: 'bench', template, limits: { ...template.limits, ttlSeconds: 600 }, env: [`ARBITER_SCENARIO_ID=${scenarioId}`] });
  for (const m of list) m.spec.Labels = { ...m.spec.Labels, [BENCH_LABEL]: runId };
  return list;
}

/** What launchContainer does, raw: create all, start in order, each readiness command until it exits 0. */
async function rawPod(docker: Docker, list: PodMember[]): Promise<void> {
  const containers: Docker.Container[] = [];
  for (const m of list) containers.push(await docker.createContainer(m.spec));
  for (const c of containers) await c.start();
  for (const [i, m] of list.entries()) {
    const readiness = m.service?.readiness;
    if (!readiness) continue;
    const deadline = Date.now() + readiness.timeoutSeconds * 1000;
    for (;;) {
      const r = await execInContainer(containers[i]!, { cmd: readiness.command, stdin: Buffer.alloc(0), cwd: '/', env: {}, user: m.service!.user, timeoutSeconds: readiness.timeoutSeconds, runtime: m.spec.HostConfig?.Runtime }, 4096);
      if (r.exitCode === 0) break;
      if (Date.now() >= deadline) throw new Error(`raw pod: ${m.name} not ready within ${readiness.timeoutSeconds}s`);
      await new Promise((res) => setTimeout(res, READINESS_POLL_MS));
    }
  }
}

/** Services first, then the holder, as teardownContainer does; by name, so a launch cut short leaves nothing. */
async function removeAll(docker: Docker, list: PodMember[]): Promise<void> {
  for (const m of [...list].reverse()) await docker.getContainer(m.spec.name!).remove({ force: true, v: true }).catch(() => undefined);
}

async function stopAndRemove(c: Docker.Container): Promise<void> {
  try {
    await c.stop({ t: 5 });
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 304) throw err;
  }
  await c.remove({ force: true, v: true });
}

/** Spawn through the API, then cancel and wait until the workflow (and its teardown) is over. */
async function spawnAndCancel(stack: BenchStack, et: string, template: string, track: string, onRunning?: (scenarioId: string, t0: number) => Promise<void>): Promise<{ scenarioId: string; t0: number }> {
  const { sat, scenarioId } = await stack.sat(et, template, track);
  const t0 = wallMs();
  await stack.spawn(sat, scenarioId);
  const measured = await onRunning?.(scenarioId, t0).then(() => undefined, (err: unknown) => (err instanceof Error ? err : new Error(String(err))));
  // Cancelled and closed before the next sample, measured or not: no scenario is left running beside it.
  const cancel = await stack.call('POST', `/api/scenarios/${scenarioId}/cancel`, sat);
  await stack.result(scenarioId).catch(() => undefined);
  stack.spawned.delete(scenarioId);
  if (measured) throw measured;
  if (cancel.status !== 202 && cancel.status !== 409) throw new Error(`cancel answered ${cancel.status}: ${JSON.stringify(cancel.json)}`);
  return { scenarioId, t0 };
}

/** When the launch activity of the scenario completed (server clock), waiting for it if need be. */
async function launchCompletedMs(stack: BenchStack, scenarioId: string, timeoutMs = 120_000): Promise<{ readyAt: number; launchMs: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const events = (await stack.temporal.workflow.getHandle(scenarioId).fetchHistory()).events ?? [];
    const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'launchContainer');
    const done = scheduled && events.find((e) => e.activityTaskCompletedEventAttributes && Number(e.activityTaskCompletedEventAttributes.scheduledEventId) === Number(scheduled.eventId));
    const failed = scheduled && events.find((e) => (e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes) && Number((e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes)!.scheduledEventId) === Number(scheduled.eventId));
    if (failed) throw new Error(`${scenarioId}: launchContainer failed: ${JSON.stringify(failed.activityTaskFailedEventAttributes?.failure?.message ?? 'timed out')}`);
    if (done) {
      const started = events.find((e) => e.activityTaskStartedEventAttributes && Number(e.activityTaskStartedEventAttributes.scheduledEventId) === Number(scheduled.eventId));
      return { readyAt: eventTimeMs(done), launchMs: started ? eventTimeMs(done) - eventTimeMs(started) : Number.NaN };
    }
    if (events.some((e) => e.workflowExecutionCompletedEventAttributes || e.workflowExecutionFailedEventAttributes)) throw new Error(`${scenarioId} closed before its launch completed`);
    if (Date.now() > deadline) throw new Error(`${scenarioId}: no completed launch within ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

export async function runPods(stack: BenchStack, opts: PodsOptions): Promise<BenchResult> {
  const { docker } = stack;
  const figures: Figure[] = [];
  const details: Record<string, unknown> = { ...opts, log: undefined };

  // ---- (i) web-recon: spawn → every service ready, against the raw pod -------------------------
  const webRecon = loadTemplate({ id: 'web-recon', version: '1' });
  const et = await stack.et('bench-pods');
  const podArbiter: number[] = [];
  const podLaunch: number[] = [];
  const podRaw: number[] = [];
  const arbiterPod = async (keep: boolean) => {
    await spawnAndCancel(stack, et, 'web-recon', 'web', async (scenarioId, t0) => {
      const { readyAt, launchMs } = await launchCompletedMs(stack, scenarioId);
      if (keep) {
        podArbiter.push(readyAt - t0);
        podLaunch.push(launchMs);
      }
    });
  };
  const rawPodOnce = async (keep: boolean) => {
    const list = members(webRecon, `bench-raw-pod-${randomUUID()}`, stack.runId);
    const t0 = wallMs();
    try {
      await rawPod(docker, list);
      if (keep) podRaw.push(wallMs() - t0);
    } finally {
      await removeAll(docker, list);
    }
  };
  opts.log(`  web-recon (holder + 2 services): ${opts.warmup} warm-up + ${opts.podSamples} samples each side`);
  for (let i = 0; i < opts.warmup + opts.podSamples; i++) {
    const keep = i >= opts.warmup;
    if (i % 2 === 0) { await arbiterPod(keep); await rawPodOnce(keep); } else { await rawPodOnce(keep); await arbiterPod(keep); }
  }
  stack.events.forget();
  opts.log(`  web-recon spawn → ready p50 ${p(podArbiter, 50)} ms (launch activity ${p(podLaunch, 50)} ms), raw pod ${p(podRaw, 50)} ms`);
  figures.push(
    {
      bench: 'pods', metric: 'web-recon spawn → all services ready p50', unit: 'ms', arbiter: p(podArbiter, 50),
      baseline: { label: 'raw pod: create+start+readiness', value: p(podRaw, 50) }, ratio: ratioOf(percentile(podArbiter, 50), percentile(podRaw, 50)),
    },
    {
      bench: 'pods', metric: 'web-recon spawn → all services ready p90', unit: 'ms', arbiter: p(podArbiter, 90),
      baseline: { label: 'raw pod: create+start+readiness', value: p(podRaw, 90) }, ratio: ratioOf(percentile(podArbiter, 90), percentile(podRaw, 90)),
      note: `${opts.podSamples} samples each; the launch activity alone took ${p(podLaunch, 50)} ms at p50`,
    },
  );
  details.webRecon = { arbiterMs: podArbiter.map(round), launchActivityMs: podLaunch.map(round), rawMs: podRaw.map(round) };

  // ---- (ii) runsc against runc, raw: the same hardened spec, only the runtime differs -----------
  const gvisor = loadTemplate({ id: 'hello-gvisor', version: '1' });
  const byRuntime: Record<'runc' | 'runsc', { start: number[]; firstExec: number[]; exec: number[]; teardown: number[] }> = {
    runc: { start: [], firstExec: [], exec: [], teardown: [] },
    runsc: { start: [], firstExec: [], exec: [], teardown: [] },
  };
  const rawRuntimeOnce = async (runtime: 'runc' | 'runsc', keep: boolean) => {
    const [m] = members({ ...gvisor, runtime }, `bench-raw-${runtime}-${randomUUID()}`, stack.runId);
    const started = stack.events.next('start', m!.spec.name!);
    const t0 = wallMs();
    const c = await docker.createContainer(m!.spec);
    try {
      await c.start();
      const e = await started;
      const exec = () => execInContainer(c, { cmd: ['echo', 'hi'], stdin: Buffer.alloc(0), cwd: '/work', env: {}, user: gvisor.user, timeoutSeconds: 30, runtime }, 4096);
      const first = await exec();
      const tFirst = wallMs();
      if (first.exitCode !== 0) throw new Error(`${runtime}: echo exited ${first.exitCode}: ${first.stderr.toString('utf8')}`);
      const execs: number[] = [];
      for (let k = 0; k < 5; k++) {
        const t = wallMs();
        await exec();
        execs.push(wallMs() - t);
      }
      const tStop = wallMs();
      await stopAndRemove(c);
      if (keep) {
        const s = byRuntime[runtime];
        s.start.push(eventMs(e) - t0);
        s.firstExec.push(tFirst - t0);
        s.exec.push(...execs);
        s.teardown.push(wallMs() - tStop);
      }
    } finally {
      await c.remove({ force: true, v: true }).catch(() => undefined);
    }
  };
  opts.log(`  hello-gvisor's spec raw under runc and runsc: ${opts.warmup} warm-up + ${opts.runtimeSamples} samples each`);
  for (let i = 0; i < opts.warmup + opts.runtimeSamples; i++) {
    const keep = i >= opts.warmup;
    if (i % 2 === 0) { await rawRuntimeOnce('runsc', keep); await rawRuntimeOnce('runc', keep); } else { await rawRuntimeOnce('runc', keep); await rawRuntimeOnce('runsc', keep); }
  }
  stack.events.forget();
  const g = byRuntime.runsc;
  const r = byRuntime.runc;
  opts.log(`  create+start p50: runsc ${p(g.start, 50)} ms, runc ${p(r.start, 50)} ms; first exec: ${p(g.firstExec, 50)} / ${p(r.firstExec, 50)} ms; exec ${p(g.exec, 50)} / ${p(r.exec, 50)} ms; teardown ${p(g.teardown, 50)} / ${p(r.teardown, 50)} ms`);
  const vsRunc = (metric: string, a: number[], b: number[], note?: string): Figure => ({
    bench: 'pods', metric, unit: 'ms', arbiter: p(a, 50), baseline: { label: 'runc, same spec', value: p(b, 50) }, ratio: ratioOf(percentile(a, 50), percentile(b, 50)), ...(note ? { note } : {}),
  });
  figures.push(
    vsRunc('runsc create+start → running p50', g.start, r.start, `raw dockerode, ${opts.runtimeSamples} samples each; "runsc" is the row's value, its runc twin the baseline`),
    vsRunc('runsc create → first exec answers p50', g.firstExec, r.firstExec),
    vsRunc('runsc exec round trip p50', g.exec, r.exec, `echo hi through execInContainer, 5 per container`),
    vsRunc('runsc stop+remove p50', g.teardown, r.teardown),
  );
  details.runtimes = Object.fromEntries(Object.entries(byRuntime).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([kk, xs]) => [kk, xs.map(round)]))]));

  // ---- (iii) through the stack: hello-gvisor against hello, spawn → running ----------------------
  if (opts.stackRuntimeSamples > 0) {
    const spawnRunning: Record<'hello' | 'hello-gvisor', number[]> = { hello: [], 'hello-gvisor': [] };
    const once = async (template: 'hello' | 'hello-gvisor', keep: boolean) => {
      await spawnAndCancel(stack, et, template, 'intro', async (scenarioId, t0) => {
        const e = await stack.events.next('start', scenarioContainerName(scenarioId));
        if (keep) spawnRunning[template].push(eventMs(e) - t0);
      });
    };
    opts.log(`  hello-gvisor and hello through the stack: ${opts.warmup} warm-up + ${opts.stackRuntimeSamples} samples each`);
    for (let i = 0; i < opts.warmup + opts.stackRuntimeSamples; i++) {
      const keep = i >= opts.warmup;
      if (i % 2 === 0) { await once('hello-gvisor', keep); await once('hello', keep); } else { await once('hello', keep); await once('hello-gvisor', keep); }
    }
    stack.events.forget();
    const a = spawnRunning['hello-gvisor'];
    const b = spawnRunning.hello;
    opts.log(`  spawn → running p50: hello-gvisor ${p(a, 50)} ms, hello ${p(b, 50)} ms`);
    figures.push({
      bench: 'pods', metric: 'hello-gvisor spawn → running p50', unit: 'ms', arbiter: p(a, 50),
      baseline: { label: 'hello (runc), same run', value: p(b, 50) }, ratio: ratioOf(percentile(a, 50), percentile(b, 50)),
      note: `through the API and workers, ${opts.stackRuntimeSamples} samples each`,
    });
    details.stackRuntimes = { helloGvisorMs: a.map(round), helloMs: b.map(round) };
  }
  return { figures, details };
}
