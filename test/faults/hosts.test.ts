// Host loss with real kills: two container hosts, each a container worker as deployed (`node
// --import tsx workers/container.ts`) on a Docker engine of its own that runs with live-restore, as
// a deployed host's does; the main worker as deployed too (its host watch is workers/main.ts's),
// with ARBITER_HOST_LOST_SECONDS=20; the Temporal dev server; the API over loopback in this process.
//
// 1. Six scenarios spawned through the API spread over both hosts, each container on the engine of
//    the host its state names, all running.
// 2. host-b's container worker and its dockerd are SIGKILLed together. Its scenarios end `failed`
//    with the reason `host_lost: container host "host-b" stopped answering (last report <its last
//    report>); …`; their audit logs record `host.lost` saying no evidence could be collected, and no
//    evidence was; nothing was asked of host-b after the launch; their quota leases are released.
//    Two scenarios spawned the moment it died: one picked for host-b while its report was still
//    fresh ends the same way from `launching` (its launch never taken), the other runs on host-a.
// 3. While host-b is down, the subjects spawn again up to their plan's limit (one more is refused):
//    every new scenario goes to host-a and runs. host-a's first scenarios are untouched (the same
//    containers, running since they started).
// 4. host-b's engine comes back: live-restore kept its lost scenarios' containers running. Its
//    container worker comes back and removes them as it starts (the reconciler's own pass); its
//    engine holds none of them. With host-a loaded, the next spawns go to host-b and run.
// 5. Every scenario still open, on both hosts, is completed through the API: each scores, its
//    verdict verifies, and no container is left on either engine.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type Docker from 'dockerode';
import { Client, Connection } from '@temporalio/client';
import { buildApp } from '../../api/app.ts';
import { buildTemplateImages } from '../../infra/images.ts';
import { LABELS } from '../../activities/container-spec.ts';
import { scenarioContainerName } from '../../contract/containers.ts';
import { readHostReports } from '../../infra/host-reports.ts';
import { LocalArtifactStore } from '../../infra/artifact-store.ts';
import type { Jwks } from '../../infra/keys.ts';
import { loadPlans } from '../../infra/plans.ts';
import { resultsDir, RESULTS, verifyResults } from '../../infra/results.ts';
import { DEFAULT_TEMPLATES_DIR } from '../../infra/template.ts';
import { mintToken } from '../../infra/tokens.ts';
import { verifyChainText, type AuditEntry } from '../../lib/audit-chain.ts';
import { quotaWorkflowId } from '../../lib/entity-ids.ts';
import { quotaQuery } from '../../contract/quota.ts';
import type { ScenarioState } from '../../contract/scenario.ts';
import { REPO, testConfig, waitFor, type TestConfig } from '../support/harness.ts';
import { startDevServer, startPrivateDockerd, startWorker, type DevServer, type PrivateDockerd, type WorkerProcess } from '../support/restartable.ts';
import { apiClient, type Http } from '../support/api-client.ts';

const TENANT = 'fault-hosts';
const HOSTS = ['host-a', 'host-b'] as const;
type HostId = (typeof HOSTS)[number];
/** the free plan's maxConcurrent (policies/plans/data.json): each subject spawns up to it */
const LIMIT = 2;
const SUBJECTS = ['hk-1', 'hk-2', 'hk-3'];
/** the subject whose scenarios are spawned the moment host-b dies */
const WINDOW = 'hk-window';
/**
 * ARBITER_HOST_LOST_SECONDS of the main worker: short, so the test is bounded, and twice the time a
 * host stops being picked (10 s), so a loaded machine that holds up host-a's reports for a few
 * seconds (this file runs beside others) does not make host-a lost too.
 */
const LOST_AFTER_SECONDS = 20;
const ANSWER = { outcome: 'success', submission: { answer: 'hello' } } as const;

interface Spawned { id: string; subject: string; hostId: HostId; containerId: string; startedAt: string }

/** Mount points at or under `path`, deepest first (what a SIGKILLed engine may leave). */
function mountsUnder(path: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === path || m.startsWith(`${path}/`)).sort((a, b) => b.length - a.length);
}

describe('faults: a container host SIGKILLed with its engine (live-restore): its scenarios end host_lost, the other host carries on, the host comes back and removes what it left', () => {
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-fault-hosts-'));
  const completionSecret = randomBytes(32).toString('base64url');
  const started = Date.now();
  const phase = (what: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${what}`);

  const engines = {} as Record<HostId, PrivateDockerd>;
  const dataRoots = Object.fromEntries(HOSTS.map((h) => [h, join(REPO, '.data', `fault-engine-${h}`)])) as Record<HostId, string>;
  const hosts: Partial<Record<HostId, WorkerProcess>> = {};
  let main: WorkerProcess | undefined;
  let temporal: DevServer;
  let t: TestConfig;
  let connection: Connection;
  let client: Client;
  let app: FastifyInstance;
  let base: string;
  let starts = 0;

  // What the tests learn, in order.
  const first: Spawned[] = [];
  let lost: Spawned[] = [];
  /** spawned the moment host-b died: picked for host-b (its report still fresh), or running on host-a */
  const window: { onB: Array<{ id: string; subject: string }>; onA: Spawned[] } = { onB: [], onA: [] };
  const again: Spawned[] = [];
  const back: Spawned[] = [];

  before(async () => {
    for (const h of HOSTS) {
      mkdirSync(join(dir, h));
      // Their own data roots (images built once, kept between runs), with live-restore as deployed.
      engines[h] = await startPrivateDockerd({ dir: join(dir, h), dataRoot: dataRoots[h], liveRestore: true });
      // The engines are this test's alone: whatever an interrupted earlier run left in them goes.
      for (const c of await engines[h].docker.listContainers({ all: true })) await engines[h].docker.getContainer(c.Id).remove({ force: true });
    }
    // Only hello's images (and the holder's): a copy of its folder hashes to the same digest.
    const only = mkdtempSync(join(dir, 'templates-'));
    cpSync(join(DEFAULT_TEMPLATES_DIR, 'hello'), join(only, 'hello'), { recursive: true });
    for (const h of HOSTS) await buildTemplateImages(engines[h].docker, { templatesDir: only });
    temporal = await startDevServer({ dir });
    t = await testConfig({
      COMPLETION_HMAC_SECRET: completionSecret, TEMPORAL_ADDRESS: temporal.address,
      ARBITER_HOST_ID: 'host-a', ARBITER_HOSTS: HOSTS.join(','),
    });
    const mainWorker = startWorker('main', {
      ARBITER_MODE: 'production',
      TEMPORAL_ADDRESS: temporal.address,
      ARBITER_STORAGE_DIR: t.config.storageDir,
      ARBITER_KEYS_DIR: t.config.keysDir,
      ARBITER_HOSTS: HOSTS.join(','),
      ARBITER_HOST_LOST_SECONDS: String(LOST_AFTER_SECONDS),
      LOG_LEVEL: 'info',
      WORKER_HTTP_PORT: 'off',
      TEMPORAL_METRICS_ADDRESS: 'off',
    }, dir, 'main');
    main = mainWorker;
    await Promise.all([polling(mainWorker, 'the main worker'), ...HOSTS.map((h) => startHost(h))]);
    connection = await Connection.connect({ address: temporal.address });
    client = new Client({ connection });
    app = await buildApp({ config: t.config, temporal: client, plans: loadPlans(), templatesDir: DEFAULT_TEMPLATES_DIR, checks: {}, httpRateLimitPerMinute: 1_000_000 });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    phase(`stack up: engines ${HOSTS.map((h) => engines[h].socket).join(', ')}, temporal ${temporal.address}, API ${base}`);
  });

  after(async () => {
    await app?.close();
    for (const w of [main, ...Object.values(hosts)]) await w?.kill().catch(() => undefined);
    await connection?.close();
    await temporal?.stop();
    for (const h of HOSTS) {
      const engine = engines[h];
      if (!engine) continue;
      // A killed engine comes back to have its containers removed: with live-restore they run on
      // under their shims, and an engine stopped with containers running leaves them running.
      if (!engineUp(h)) await engine.start().catch((err: unknown) => console.error(`${h}: ${(err as Error).message}`));
      for (const c of await engine.docker.listContainers({ all: true }).catch(() => [])) await engine.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
      await engine.stop();
      // A SIGKILLed dockerd cannot undo the bind mount it put on its data root; the next one keeps it.
      for (const m of [...mountsUnder(join(dir, h)), ...mountsUnder(dataRoots[h])]) execFileSync('umount', ['-l', m]);
    }
    t?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  // ---- processes ---------------------------------------------------------------------------------

  async function polling(w: WorkerProcess, what: string): Promise<void> {
    await waitFor(`${what} polling`, async () => {
      if (w.child.exitCode !== null) throw new Error(`${what} exited ${w.child.exitCode}: ${w.tail()}`);
      return readFileSync(w.log, 'utf8').includes('worker started"') ? true : undefined;
    }, 90_000);
  }

  /** The container worker of `hostId`, as deployed, on its own engine; waits until it polls. */
  async function startHost(hostId: HostId): Promise<WorkerProcess> {
    assert.equal(hosts[hostId], undefined, `one container worker for ${hostId}`);
    const n = ++starts;
    const w = startWorker('container', {
      ARBITER_MODE: 'production',
      COMPLETION_HMAC_SECRET: completionSecret,
      TEMPORAL_ADDRESS: temporal.address,
      ARBITER_STORAGE_DIR: t.config.storageDir,
      ARBITER_KEYS_DIR: t.config.keysDir,
      ARBITER_HOST_ID: hostId,
      // No warm pool: its entries would be created beside the containers this test counts.
      ARBITER_POOLS: 'none',
      DOCKER_SOCKET: engines[hostId].socket,
      LOG_LEVEL: 'info',
      // No ops ports: a stack or another test on this machine may hold the defaults.
      WORKER_HTTP_PORT: 'off',
      TEMPORAL_METRICS_ADDRESS: 'off',
    }, dir, `container-${hostId}-${n}`);
    hosts[hostId] = w;
    await polling(w, `the container worker of ${hostId} (start ${n})`);
    return w;
  }

  // ---- the API, as a client uses it ------------------------------------------------------------

  const call = apiClient(() => base);

  const operator = async () => (await mintToken('operator', { sub: 'host-controller', role: 'operator' }, t.config.secrets.OPERATOR_HMAC_SECRET!, { ttlSeconds: 900 })).token;

  /** A SAT for hello, from the API. */
  async function satFor(subject: string): Promise<string> {
    const et = (await mintToken('et', { sub: subject, tenant: TENANT, plan: 'free' }, t.config.secrets.ET_HMAC_SECRET!, { ttlSeconds: 900 })).token;
    const sat = await call('POST', '/api/sat', et, { template: 'hello', track: 'intro' });
    assert.equal(sat.status, 201, JSON.stringify(sat.json));
    return sat.json!.sat as string;
  }

  /** A spawn: the HTTP answer (202 once the scenario is admitted and its host picked). */
  const spawn = async (subject: string, sat?: string): Promise<Http> => call('POST', '/api/spawn', sat ?? await satFor(subject), {});

  async function state(id: string): Promise<ScenarioState> {
    const r = await call('GET', `/api/scenarios/${id}`, await operator());
    assert.equal(r.status, 200, `${id}: ${JSON.stringify(r.json)}`);
    return r.json as unknown as ScenarioState;
  }

  /**
   * Spawns for `subject` and waits until the scenario runs: where it runs, found on the engines
   * themselves (one container, on the engine of the host its state names, labelled with that host).
   */
  async function spawnRunning(subject: string): Promise<Spawned> {
    const r = await spawn(subject);
    assert.equal(r.status, 202, JSON.stringify(r.json));
    return running(r.json!.scenarioId as string, subject);
  }

  /** Waits until the scenario runs, and finds where: see spawnRunning. */
  async function running(id: string, subject: string): Promise<Spawned> {
    const s = await waitFor(`${id} running`, async () => {
      const s = await state(id);
      if (['scored', 'failed', 'denied', 'cancelled', 'timed_out'].includes(s.status)) throw new Error(`${id} ended ${s.status}: ${s.reason ?? ''}`);
      return s.status === 'running' ? s : undefined;
    }, 180_000);
    // A killed engine holds nothing new: only the engines that run are asked.
    const found = (await Promise.all(HOSTS.filter(engineUp).map(async (h) => (await containersOn(h, id)).map((c) => ({ hostId: h, c }))))).flat();
    assert.equal(found.length, 1, `${id}: one container, on one engine (${JSON.stringify(found.map((f) => f.hostId))})`);
    const [{ hostId, c }] = found as [{ hostId: HostId; c: Docker.ContainerInfo }];
    assert.equal(s.hostId, hostId, `${id}: its state names the host whose engine holds its container`);
    assert.equal(c.Labels[LABELS.host], hostId, `${id}: its container is labelled with that host`);
    assert.equal(c.State, 'running');
    const inspected = await engines[hostId].docker.getContainer(c.Id).inspect();
    return { id, subject, hostId, containerId: c.Id, startedAt: inspected.State.StartedAt };
  }

  const engineUp = (hostId: HostId) => engines[hostId].proc.child.exitCode === null && engines[hostId].proc.child.signalCode === null;

  const containersOn = (hostId: HostId, scenarioId: string) =>
    engines[hostId].docker.listContainers({ all: true, filters: { label: [`${LABELS.scenario}=${scenarioId}`] } });

  const closed = (id: string, timeoutMs: number) =>
    waitFor(`${id} closed`, async () => ((await client.workflow.getHandle(id).describe()).status.name !== 'RUNNING' ? true : undefined), timeoutMs);

  const leases = async (subject: string) => (await client.workflow.getHandle(quotaWorkflowId(TENANT, subject)).query(quotaQuery)).leases;

  const auditOf = (id: string) => readFileSync(join(resultsDir(t.config.storageDir, id), RESULTS.audit), 'utf8');

  // ---- the faults --------------------------------------------------------------------------------

  // The steps build on each other: one after a failed step says so, instead of failing on its leftovers.
  let passed = 0;
  const needs = (step: number) => assert.equal(passed, step, `step ${step} passed (this step builds on it)`);

  it('scenarios spread over both hosts, each container on the engine of the host its state names, all running', { timeout: 300_000 }, async () => {
    const spawned = await Promise.all(SUBJECTS.flatMap((subject) => Array.from({ length: LIMIT }, () => spawnRunning(subject))));
    first.push(...spawned);
    const perHost = HOSTS.map((h) => first.filter((s) => s.hostId === h).length);
    phase(`${first.length} scenarios running: ${HOSTS.map((h, i) => `${h} ${perHost[i]}`).join(', ')}`);
    assert.ok(perHost.every((n) => n > 0), `both hosts run scenarios (${JSON.stringify(perHost)})`);
    passed = 1;
  });

  it('host-b\'s worker and engine SIGKILLed: its scenarios end failed, host_lost, nothing more asked of it, the loss audited, their leases released', { timeout: 300_000 }, async () => {
    needs(1);
    lost = first.filter((s) => s.hostId === 'host-b');
    assert.ok(lost.length > 0, 'host-b runs scenarios');
    // Spawned the moment host-b dies: its last report stays fresh for a while (a host is lost only
    // ARBITER_HOST_LOST_SECONDS after it), so the pick may still choose it. With both hosts about
    // equally loaded the two picks split (a pick counts against its host until its report shows
    // it); on a very slow machine both may come after host-b stopped answering and go to host-a.
    const windowSats = await Promise.all([satFor(WINDOW), satFor(WINDOW)]);
    const worker = hosts['host-b']!;
    hosts['host-b'] = undefined;
    await Promise.all([worker.kill(), engines['host-b'].kill()]);
    const killedAt = Date.now();
    const windowIds = await Promise.all(windowSats.map(async (sat) => {
      const r = await spawn(WINDOW, sat);
      assert.equal(r.status, 202, JSON.stringify(r.json));
      return r.json!.scenarioId as string;
    }));
    // Its last word: nothing writes this report any more.
    const lastReport = (await readHostReports(new LocalArtifactStore(t.config.storageDir), ['host-b'])).get('host-b');
    assert.ok(lastReport, 'host-b had reported');
    for (const id of windowIds) {
      const picked = (await state(id)).hostId;
      if (picked === 'host-b') window.onB.push({ id, subject: WINDOW });
      else window.onA.push(await running(id, WINDOW));
    }
    phase(`SIGKILL host-b's container worker and dockerd (its last report ${new Date(lastReport.reportedAt).toISOString()}), ${lost.length} scenarios on it; of the 2 spawned then, ${window.onB.length} picked for host-b`);

    const reason = `host_lost: container host "host-b" stopped answering (last report ${new Date(lastReport.reportedAt).toISOString()}); its containers and whatever the scenario did in them are out of reach`;
    for (const s of [...lost, ...window.onB]) {
      // Bounded by the host watch (ARBITER_HOST_LOST_SECONDS after the last report, a tick of 2 s),
      // not by the scenario's TTL (30 minutes): a generous bound for a loaded machine.
      await closed(s.id, 120_000);
      const final = await state(s.id);
      assert.equal(final.status, 'failed', `${s.id}: ${final.reason ?? ''}`);
      assert.equal(final.reason, reason);
    }
    phase(`host-b's ${lost.length + window.onB.length} scenarios ended host_lost ${((Date.now() - killedAt) / 1000).toFixed(1)}s after the kill`);
    await waitFor('the main worker to say it found host-b lost', async () => (/"hostId":"host-b".*"msg":"container host lost: its open scenarios are ending \(host_lost\)"/.test(readFileSync(main!.log, 'utf8')) ? true : undefined), 30_000);

    for (const s of [...lost, ...window.onB]) {
      const launching = window.onB.includes(s);
      // The audit log holds its chain and says what happened and what could be collected: nothing.
      const audit = auditOf(s.id);
      assert.ok(verifyChainText(audit).ok, `${s.id}: the audit chain holds`);
      const events = audit.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEntry);
      const loss = events.find((e) => e.event === 'host.lost');
      assert.ok(loss, `${s.id}: the loss is audited`);
      assert.equal(loss.data?.hostId, 'host-b');
      assert.equal(loss.data?.lastReportAt, new Date(lastReport.reportedAt).toISOString());
      assert.equal(loss.data?.evidence, 'none collected: the host\'s worker and engine stopped answering');
      // What it left: its running container, or a launch host-b never took.
      assert.equal(loss.data?.left, launching ? 'a launch under way' : scenarioContainerName(s.id));
      assert.equal(events.find((e) => e.event === 'status.failed')?.data?.reason, reason);
      const results = resultsDir(t.config.storageDir, s.id);
      assert.equal(existsSync(join(results, RESULTS.evidenceDir)), false, 'no evidence: none could be collected');
      assert.equal(existsSync(join(results, RESULTS.envelope)), false, 'no verdict');
      // Nothing was asked of the lost host after the launch (no evidence, no teardown).
      const history = await client.workflow.getHandle(s.id).fetchHistory();
      const scheduled = (history.events ?? []).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean);
      assert.deepEqual(scheduled, ['launchContainer'], `${s.id}: only the launch was asked of host-b`);
      if (launching) assert.equal((history.events ?? []).some((e) => e.activityTaskStartedEventAttributes), false, `${s.id}: its launch was never taken`);
      await waitFor(`${s.id}: its lease released`, async () => (s.id in (await leases(s.subject)) ? undefined : true), 30_000);
    }
    passed = 2;
  });

  it('while host-b is down, its subjects spawn again up to their limit: every new scenario goes to host-a and runs; host-a\'s first scenarios are untouched', { timeout: 300_000 }, async () => {
    needs(2);
    const subjects = [...new Set(lost.map((s) => s.subject))];
    for (const subject of subjects) {
      const freed = lost.filter((s) => s.subject === subject).length;
      again.push(...await Promise.all(Array.from({ length: freed }, () => spawnRunning(subject))));
      // The limit still holds: the subject's scenarios on host-a and its new ones fill it.
      const over = await spawn(subject);
      assert.equal(over.status, 429, `${subject}: ${JSON.stringify(over.json)}`);
      assert.equal((over.json?.error as { code?: string } | undefined)?.code, 'quota_exceeded');
    }
    assert.deepEqual(again.map((s) => s.hostId), lost.map(() => 'host-a'), 'the new scenarios run on host-a');
    phase(`${again.length} new scenarios running on host-a while host-b is down`);

    // Nothing of host-a was touched: the same containers, running since they first started.
    assert.equal(hosts['host-a']!.child.exitCode, null, 'host-a\'s worker runs');
    for (const s of first.filter((x) => x.hostId === 'host-a')) {
      assert.equal((await state(s.id)).status, 'running', s.id);
      const c = await engines['host-a'].docker.getContainer(s.containerId).inspect();
      assert.equal(c.State.Running, true, `${s.id}: its container runs`);
      assert.equal(c.State.StartedAt, s.startedAt, `${s.id}: never restarted`);
      assert.deepEqual((await containersOn('host-a', s.id)).map((x) => x.Id), [s.containerId], `${s.id}: the same, only container`);
    }
    passed = 3;
  });

  it('host-b comes back: live-restore kept its lost scenarios\' containers, its worker removes them as it starts; with host-a loaded, the next spawns go to host-b and run', { timeout: 300_000 }, async () => {
    needs(3);
    await engines['host-b'].start();
    for (const s of lost) {
      const c = await engines['host-b'].docker.getContainer(s.containerId).inspect();
      assert.equal(c.State.Running, true, `${s.id}: its container ran on through the engine's SIGKILL (live-restore)`);
    }
    phase(`host-b's engine is back with its ${lost.length} lost scenarios' containers running; starting its worker`);
    const restartedAt = Date.now();
    const worker = await startHost('host-b');
    await waitFor('host-b to remove what its lost scenarios left', async () => {
      for (const s of lost) if ((await containersOn('host-b', s.id)).length > 0) return undefined;
      return true;
    }, 90_000);
    assert.deepEqual(await engines['host-b'].docker.listContainers({ all: true }), [], 'host-b\'s engine holds no container (none ever of a scenario whose launch it never took)');
    await waitFor('host-b\'s worker to say what it removed', async () => (readFileSync(worker.log, 'utf8').includes('removed what an earlier run of this host left') ? true : undefined), 30_000);
    phase('host-b removed what its lost scenarios left');

    // host-a runs every scenario so far (its own and host-b's replacements); host-b none, and it
    // answers again: the next spawns go to the host with the most free capacity.
    await waitFor('host-b reporting again', async () => (((await readHostReports(new LocalArtifactStore(t.config.storageDir), ['host-b'])).get('host-b')?.reportedAt ?? 0) > restartedAt ? true : undefined), 60_000);
    back.push(await spawnRunning('hk-back'), await spawnRunning('hk-back'));
    assert.deepEqual(back.map((s) => s.hostId), ['host-b', 'host-b'], 'host-b gets new scenarios again');
    phase('host-b runs new scenarios');
    passed = 4;
  });

  it('every open scenario, on both hosts, completes: scored, its verdict verifies, no container left on either engine', { timeout: 300_000 }, async () => {
    needs(4);
    const open = [...first.filter((s) => s.hostId === 'host-a'), ...window.onA, ...again, ...back];
    const jwks = (await (await fetch(`${base}/.well-known/arbiter/keys`)).json()) as Jwks;
    await Promise.all(open.map(async (s) => {
      const token = await call('POST', `/api/scenarios/${s.id}/completion-token`, await operator());
      assert.equal(token.status, 200, `${s.id}: ${JSON.stringify(token.json)}`);
      const done = await call('POST', `/api/scenarios/${s.id}/complete`, token.json!.token as string, ANSWER);
      assert.equal(done.status, 202, `${s.id}: ${JSON.stringify(done.json)}`);
    }));
    for (const s of open) {
      await closed(s.id, 180_000);
      const final = await state(s.id);
      assert.equal(final.status, 'scored', `${s.id} (on ${s.hostId}): ${final.reason ?? ''}`);
      assert.deepEqual(final.score, { score: 2, maxScore: 2, passed: true });
      const check = await verifyResults(resultsDir(t.config.storageDir, s.id), jwks);
      assert.ok(check.ok, `${s.id}: ${JSON.stringify(check)}`);
    }
    for (const h of HOSTS) assert.deepEqual(await engines[h].docker.listContainers({ all: true }), [], `no container left on ${h}'s engine`);
    phase(`${open.length} scenarios scored and verified (${open.filter((s) => s.hostId === 'host-a').length} on host-a, ${back.length} on host-b)`);
    passed = 5;
  });
});
