// Faults under multi-service scenarios (pods): web-recon@1 is three containers, a namespace holder
// (arbiter-<id>-pod), the workstation (arbiter-<id>) and the target (arbiter-<id>-svc-target),
// created in that order by one launch activity, then started, then waited on for readiness.
//
// 1. The container worker is SIGKILLed mid-launch, after the engine created the holder and the
//    workstation and before it created the target; restarted, the retried launch adopts the two
//    and creates the third: the scenario runs, is solved, scores and its verdict verifies, with
//    exactly one container ever created per member and none left.
// 2. The Docker engine restarts (SIGTERM, started again; it runs with live-restore, as deployed)
//    under a running pod: the pod's containers run on untouched, the subject solves it through the
//    API's exec, it scores and its verdict verifies; nothing of it was created again, none left.
// 3. The engine dies with its containers (a host's power loss: dockerd, containerd, the shims and
//    the containers' processes SIGKILLed): the scenario ends failed with an environment_reset
//    reason; still one container ever created per member, none left (holder included), its
//    evidence and audit written, its quota lease released.
// 4. A pod launched halfway whose workflow is gone (worker killed mid-launch, workflow terminated
//    before the retry): the reconciler removes what was created, holder included.
//
// Real components: a Docker engine of this test's own (test/support/restartable.ts; restarting it
// touches no other test's containers), the Temporal dev server, the API over loopback and the main
// worker in this process, and the container worker as deployed (`node --import tsx
// workers/container.ts`), which this test SIGKILLs and restarts. What the engine created is counted
// from its own events, recorded live across its restart.
//
// The kill point: the engine creates the workstation and, a few milliseconds later, the target (an
// inspect and a create apart). A kill triggered by the workstation's create event alone could land
// after the target's on a busy machine, so the first worker of tests 1 and 3 reaches the engine
// through a pass-through proxy (test/support/docker-gate.ts) that holds its create of the target:
// the worker dies once the engine has reported the workstation created and that create is held,
// and the engine never sees it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { buildApp } from '../../api/app.ts';
import { buildTemplateImages } from '../../infra/images.ts';
import { LABELS } from '../../activities/container-spec.ts';
import { holderContainerName, scenarioContainerName, serviceContainerName } from '../../contract/containers.ts';
import type { Jwks } from '../../infra/keys.ts';
import { MANIFEST_FILE } from '../../infra/evidence-manifest.ts';
import { loadPlans } from '../../infra/plans.ts';
import { resultsDir, RESULTS, verifyResults } from '../../infra/results.ts';
import { DEFAULT_TEMPLATES_DIR } from '../../infra/template.ts';
import { mintToken } from '../../infra/tokens.ts';
import { verifyChainText, type AuditEntry } from '../../lib/audit-chain.ts';
import { quotaWorkflowId } from '../../lib/entity-ids.ts';
import { scenarioIdFromJti, statusQuery, type ScenarioState } from '../../contract/scenario.ts';
import { quotaQuery } from '../../contract/quota.ts';
import { MAIN_TASK_QUEUE, RECONCILE_WORKFLOW_TYPE, SEARCH_ATTRIBUTES } from '../../contract/queues.ts';
import type { ReconcileReport } from '../../contract/reconcile.ts';
import { bundleWorkflows, createMainWorker } from '../../workers/workers.ts';
import { REPO, testConfig, tools, waitFor, type TestConfig } from '../support/harness.ts';
import { recordEngineEvents, startPrivateDockerd, startWorker, type EventRecorder, type PrivateDockerd, type WorkerProcess } from '../support/restartable.ts';
import { startDockerGate, type DockerGate } from '../support/docker-gate.ts';
import { apiClient } from '../support/api-client.ts';

Runtime.install({ logger: new DefaultLogger('WARN') });

const TENANT = 'fault-acme';
const SECRET = 'ARB{l00pback-0nly-recon}';

/** web-recon's containers, in the order the launch creates them. */
interface Pod { holder: string; workstation: string; target: string }

const podOf = (id: string): Pod => ({
  holder: holderContainerName(id),
  workstation: scenarioContainerName(id),
  target: serviceContainerName(id, { name: 'target', main: false }),
});

describe('faults: multi-service scenarios through a worker kill mid-launch, an engine restart, an engine crash and the reconciler', () => {
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-fault-pods-'));
  const completionSecret = randomBytes(32).toString('base64url');
  const relaySecret = randomBytes(32).toString('base64url');
  const started = Date.now();
  const phase = (what: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${what}`);

  let engine: PrivateDockerd;
  let env: TestWorkflowEnvironment;
  let t: TestConfig;
  let main: Worker;
  let stopMain: () => void = () => undefined;
  let mainDone: Promise<unknown> | undefined;
  let app: FastifyInstance;
  let base: string;
  let recorder: EventRecorder;
  let host: WorkerProcess | undefined;
  let starts = 0;
  const gates: DockerGate[] = [];

  before(async () => {
    // Its own data root, not the alone suite's (.data/fault-engine): the two may run at once.
    engine = await startPrivateDockerd({ dir, dataRoot: join(REPO, '.data', 'fault-engine-pods') });
    // The engine is this test's alone: whatever an interrupted earlier run left in it goes.
    for (const c of await engine.docker.listContainers({ all: true })) await engine.docker.getContainer(c.Id).remove({ force: true });
    await buildTemplateImages(engine.docker);
    env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: tools().TEMPORAL_BIN },
        ip: '127.0.0.1',
        extraArgs: Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
      },
    });
    t = await testConfig({ COMPLETION_HMAC_SECRET: completionSecret, RELAY_HMAC_SECRET: relaySecret, DOCKER_SOCKET: engine.socket, TEMPORAL_ADDRESS: env.address });
    recorder = recordEngineEvents(engine.docker, { event: ['create'], label: [`${LABELS.managed}=true`] });
    const bundle = await bundleWorkflows(new DefaultLogger('WARN'));
    ({ worker: main } = await createMainWorker({ config: t.config, connection: env.nativeConnection, client: env.client, workflowBundle: bundle }));
    mainDone = main.runUntil(new Promise<void>((resolve) => { stopMain = resolve; }));
    app = await buildApp({ config: t.config, temporal: env.client, plans: loadPlans(), templatesDir: DEFAULT_TEMPLATES_DIR, checks: {}, httpRateLimitPerMinute: 1_000_000 });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    phase(`stack up: engine ${engine.socket}, temporal ${env.address}, API ${base}`);
  });

  after(async () => {
    recorder?.stop();
    await host?.kill().catch(() => undefined);
    for (const g of gates) await g.close();
    await app?.close();
    stopMain();
    await mainDone;
    await env?.teardown();
    if (engine) {
      for (const c of await engine.docker.listContainers({ all: true }).catch(() => [])) await engine.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
      await engine.stop();
    }
    t?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  // ---- the container host, as deployed ----------------------------------------------------------

  /** Starts the container worker (on the engine, or on a gate in front of it) and waits until it polls. */
  async function startHost(dockerSocket = engine.socket): Promise<WorkerProcess> {
    assert.equal(host, undefined, 'one container worker at a time');
    const n = ++starts;
    const w = startWorker('container', {
      ARBITER_MODE: 'production',
      COMPLETION_HMAC_SECRET: completionSecret,
      // Subject access (exec through the API) served as a deployed host serves it.
      RELAY_HMAC_SECRET: relaySecret,
      ARBITER_ACCESS_SOCKET_DIR: t.config.access.socketDir,
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_NAMESPACE: t.config.temporalNamespace,
      ARBITER_STORAGE_DIR: t.config.storageDir,
      ARBITER_KEYS_DIR: t.config.keysDir,
      ARBITER_HOST_ID: t.config.hostId,
      // No warm pool: its entries would outlive the test (pooled-flag declares one).
      ARBITER_POOLS: 'none',
      DOCKER_SOCKET: dockerSocket,
      LOG_LEVEL: 'info',
      // No ops ports: a stack or another test on this machine may hold the defaults.
      WORKER_HTTP_PORT: 'off',
      TEMPORAL_METRICS_ADDRESS: 'off',
    }, dir, `container-${n}`);
    host = w;
    await waitFor(`the container worker (start ${n}) polling`, async () => {
      if (w.child.exitCode !== null) throw new Error(`the container worker exited ${w.child.exitCode}: ${w.tail()}`);
      return readFileSync(w.log, 'utf8').includes('worker started"') ? true : undefined;
    }, 90_000);
    return w;
  }

  /** SIGTERM: the worker shuts down gracefully (nothing is in flight when a test calls this). */
  async function stopHost(): Promise<void> {
    const w = host!;
    host = undefined;
    w.child.kill('SIGTERM');
    assert.equal((await w.exited).code, 0, w.tail());
  }

  async function killHost(point: string): Promise<void> {
    const w = host!;
    host = undefined;
    await w.kill();
    phase(`SIGKILL container worker: ${point}`);
  }

  /**
   * Starts the container worker behind a gate that holds its create of the pod's target, spawns,
   * and kills the worker once the engine has reported the workstation created and the target's
   * create is held: the launch dies with the holder and the workstation created (never started)
   * and the target never created. Resolves once the worker is dead.
   */
  async function killMidLaunch(pod: Pod, spawn: () => Promise<void>): Promise<void> {
    const gate = await startDockerGate({
      socket: join(dir, `gate-${gates.length + 1}.sock`),
      engineSocket: engine.socket,
      hold: (method, url) => method === 'POST' && /\/containers\/create\?/.test(url) && new URL(url, 'http://engine').searchParams.get('name') === pod.target,
    });
    gates.push(gate);
    const targetHeld = new Promise<void>((resolve) => gate.onHold(() => resolve()));
    let off: () => void = () => undefined;
    const workstationCreated = new Promise<void>((resolve) => {
      off = recorder.on((e) => {
        if (e.action === 'create' && e.attributes.name === pod.workstation) resolve();
      });
    });
    await startHost(gate.socket);
    try {
      await spawn();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all([workstationCreated, targetHeld]),
        new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`the launch never reached the target's create: ${host?.tail() ?? ''}`)), 60_000); }),
      ]).finally(() => clearTimeout(timer));
      await killHost('mid-launch: the engine has created the holder and the workstation, the create of the target is held');
    } finally {
      off();
      gate.dropAll();
    }
    assert.deepEqual(gate.held.map((h) => h.method), ['POST'], "the dead launch asked for the target's create once, and the engine never saw it");
  }

  // ---- the API, as a client uses it ------------------------------------------------------------

  const call = apiClient(() => base);

  /** A SAT for web-recon of a pro subject, from the API, and the id of the scenario it spawns. */
  async function webReconSat(subject: string): Promise<{ sat: string; id: string; pod: Pod }> {
    const et = (await mintToken('et', { sub: subject, tenant: TENANT, plan: 'pro' }, t.config.secrets.ET_HMAC_SECRET!, { ttlSeconds: 900 })).token;
    const r = await call('POST', '/api/sat', et, { template: 'web-recon', track: 'web' });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const sat = r.json!.sat as string;
    const id = scenarioIdFromJti((JSON.parse(Buffer.from(sat.split('.')[1]!, 'base64url').toString('utf8')) as { jti: string }).jti);
    return { sat, id, pod: podOf(id) };
  }

  async function spawn(sat: string, id: string): Promise<void> {
    const r = await call('POST', '/api/spawn', sat, {});
    assert.equal(r.status, 202, JSON.stringify(r.json));
    assert.equal(r.json!.scenarioId, id);
  }

  async function completionToken(id: string): Promise<string> {
    const operator = (await mintToken('operator', { sub: 'host-controller', role: 'operator' }, t.config.secrets.OPERATOR_HMAC_SECRET!, { ttlSeconds: 900 })).token;
    const r = await call('POST', `/api/scenarios/${id}/completion-token`, operator);
    assert.equal(r.status, 200, `the completion token of ${id}: ${JSON.stringify(r.json)}`);
    return r.json!.token as string;
  }

  // ---- what the engine and Temporal say --------------------------------------------------------

  const status = (id: string) => env.client.workflow.getHandle(id).query(statusQuery);

  async function reach(id: string, wanted: ScenarioState['status'], timeoutMs = 90_000): Promise<ScenarioState> {
    return waitFor(`${id} ${wanted}`, async () => {
      const s = await status(id);
      if (s.status !== wanted && ['scored', 'failed', 'denied', 'cancelled', 'timed_out'].includes(s.status)) throw new Error(`${id} ended ${s.status}: ${s.reason ?? ''}`);
      return s.status === wanted ? s : undefined;
    }, timeoutMs);
  }

  /** The workflow closed (a status query can read "scored" while the verdict is still being signed), then its final state. */
  async function closed(id: string, timeoutMs: number): Promise<ScenarioState> {
    await waitFor(`${id} closed`, async () => ((await env.client.workflow.getHandle(id).describe()).status.name !== 'RUNNING' ? true : undefined), timeoutMs);
    return status(id);
  }

  /** How many times the engine created each container of the scenario, by name (from its own events). */
  function createsByName(id: string): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const e of recorder.events) {
      if (e.action !== 'create' || e.attributes[LABELS.scenario] !== id) continue;
      if (e.attributes[LABELS.role] !== 'holder' && e.attributes[LABELS.role] !== 'scenario') continue;
      const name = e.attributes.name ?? e.id;
      counts[name] = (counts[name] ?? 0) + 1;
    }
    return counts;
  }

  const left = (id: string) => engine.docker.listContainers({ all: true, filters: { label: [`${LABELS.scenario}=${id}`] } });

  /** Runs a command in a container through the engine, as the container's own user: its exit code and stdout. */
  async function engineExec(containerName: string, cmd: string[]): Promise<{ exitCode: number | null; stdout: string }> {
    const exec = await engine.docker.getContainer(containerName).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false });
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    await new Promise<void>((resolve) => { stream.on('end', resolve); stream.on('close', resolve); });
    const { ExitCode } = await exec.inspect();
    // Docker frames stdout and stderr (8-byte headers) when there is no TTY: keep stdout (stream 1).
    const raw = Buffer.concat(chunks);
    const out: Buffer[] = [];
    for (let i = 0; i + 8 <= raw.length; i += 8 + raw.readUInt32BE(i + 4)) if (raw[i] === 1) out.push(raw.subarray(i + 8, i + 8 + raw.readUInt32BE(i + 4)));
    return { exitCode: ExitCode, stdout: Buffer.concat(out).toString('utf8') };
  }

  async function activityAttempts(id: string, activity: string): Promise<{ completed: number; lastAttempt: number }> {
    const history = await env.client.workflow.getHandle(id).fetchHistory();
    const scheduled = new Map<string, string>();
    let completed = 0;
    let lastAttempt = 0;
    for (const e of history.events ?? []) {
      const s = e.activityTaskScheduledEventAttributes;
      if (s) scheduled.set(String(e.eventId), s.activityType?.name ?? '');
      const st = e.activityTaskStartedEventAttributes;
      if (st && scheduled.get(String(st.scheduledEventId)) === activity) lastAttempt = Math.max(lastAttempt, st.attempt ?? 0);
      const c = e.activityTaskCompletedEventAttributes;
      if (c && scheduled.get(String(c.scheduledEventId)) === activity) completed++;
    }
    return { completed, lastAttempt };
  }

  const auditOf = (id: string) => readFileSync(join(resultsDir(t.config.storageDir, id), RESULTS.audit), 'utf8');

  // ---- the faults --------------------------------------------------------------------------------

  it('a container worker SIGKILLed mid-launch (holder and workstation created, target not) and restarted: scored, one create per container, none left, the verdict verifies', { timeout: 150_000 }, async () => {
    const { sat, id, pod } = await webReconSat('pods-killed-mid-launch');
    await killMidLaunch(pod, () => spawn(sat, id));
    // What the dead attempt left: the holder and the workstation, created and never started, no
    // target, and the workflow not told.
    assert.deepEqual(createsByName(id), { [pod.holder]: 1, [pod.workstation]: 1 });
    const orphans = await left(id);
    assert.deepEqual(orphans.map((c) => `${c.Names[0]!.slice(1)}:${c.State}`).sort(), [`${pod.holder}:created`, `${pod.workstation}:created`].sort());
    assert.equal((await status(id)).status, 'launching');
    phase(`${id}: the dead launch left the holder and the workstation`);

    // The heartbeat timeout marks the dead attempt failed; the retry, on the restarted worker,
    // adopts the holder and the workstation and creates the target.
    await startHost();
    await reach(id, 'running');
    assert.deepEqual((await left(id)).map((c) => c.State), ['running', 'running', 'running']);
    phase(`${id}: running after the restart`);
    // The adopted pod is whole: the workstation reaches the target by name on their shared loopback.
    const solved = await engineExec(pod.workstation, ['/bin/sh', '-c', 'wget -q -O - "http://target:8080/cgi-bin/lookup?id=100" | sed -n "s/.*secret=//p" > /work/answer.txt; cat /work/answer.txt']);
    assert.equal(solved.stdout, `${SECRET}\n`, JSON.stringify(solved));
    const done = await call('POST', `/api/scenarios/${id}/complete`, await completionToken(id), { outcome: 'success', submission: {} });
    assert.equal(done.status, 202, JSON.stringify(done.json));

    const final = await closed(id, 120_000);
    assert.equal(final.status, 'scored', final.reason);
    assert.deepEqual(final.score, { score: 2, maxScore: 2, passed: true });
    const launch = await activityAttempts(id, 'launchContainer');
    assert.equal(launch.completed, 1);
    assert.ok(launch.lastAttempt >= 2, `the launch that completed was a retry (attempt ${launch.lastAttempt})`);
    assert.deepEqual(createsByName(id), { [pod.holder]: 1, [pod.workstation]: 1, [pod.target]: 1 }, 'exactly one container ever created per member');
    assert.deepEqual(await left(id), [], 'none is left');
    const jwks = (await (await fetch(`${base}/.well-known/arbiter/keys`)).json()) as Jwks;
    const check = await verifyResults(resultsDir(t.config.storageDir, id), jwks);
    assert.ok(check.ok, JSON.stringify(check));
    phase(`${id}: scored, the verdict verifies`);
  });

  /**
   * The names of the scenario's pod members (not its scorer) the engine's own log says it created
   * since `since`: it keeps its events in memory only, so the record above spans a restart and
   * this confirms it.
   */
  async function podCreatesSince(id: string, since: number): Promise<string[]> {
    const events = (await engine.docker.getEvents({ since, until: Math.ceil(Date.now() / 1000) + 1, filters: { type: ['container'], event: ['create'], label: [`${LABELS.scenario}=${id}`] } })) as unknown as AsyncIterable<Buffer>;
    let lines = '';
    for await (const chunk of events) lines += chunk.toString('utf8');
    return lines.split('\n').filter(Boolean)
      .map((l) => (JSON.parse(l) as { Actor: { Attributes: Record<string, string> } }).Actor.Attributes)
      .filter((a) => a[LABELS.role] === 'scenario' || a[LABELS.role] === 'holder')
      .map((a) => a.name ?? '?');
  }

  it('the Docker engine restarted under a running pod (live-restore): the pod runs on untouched, is solved, scores and its verdict verifies; nothing created again, none left', { timeout: 150_000 }, async () => {
    if (!host) await startHost();
    const { sat, id, pod } = await webReconSat('pods-engine-restart');
    await spawn(sat, id);
    await reach(id, 'running');
    assert.deepEqual((await left(id)).map((c) => c.State), ['running', 'running', 'running']);
    const startedAt = async () => Object.fromEntries(await Promise.all([pod.holder, pod.workstation, pod.target].map(async (name) => {
      const info = await engine.docker.getContainer(name).inspect();
      return [name, `${info.Id} ${info.State.Status} ${info.State.StartedAt}`] as const;
    })));
    const beforeRestart = await startedAt();

    phase(`${id}: restarting the Docker engine under the running pod`);
    const restartedAt = Math.floor(Date.now() / 1000);
    await engine.restart();
    assert.deepEqual(await startedAt(), beforeRestart, 'the same three containers, running since before the restart');
    assert.equal((await status(id)).status, 'running');
    assert.equal(host!.child.exitCode, null, `the container worker survived the engine restart: ${host!.tail()}`);

    // The subject works on through the API (its exec reaches the workstation through the host and
    // the restarted engine), and the workstation still reaches the target on the pod's loopback.
    const solved = await call('POST', `/api/scenarios/${id}/exec`, sat, { cmd: ['/bin/sh', '-c', 'wget -q -O - "http://target:8080/cgi-bin/lookup?id=100" | sed -n "s/.*secret=//p" > /work/answer.txt; cat /work/answer.txt'] });
    assert.equal(solved.status, 200, JSON.stringify(solved.json));
    assert.equal(solved.json!.stdout, `${SECRET}\n`, JSON.stringify(solved.json));
    const done = await call('POST', `/api/scenarios/${id}/complete`, await completionToken(id), { outcome: 'success', submission: {} });
    assert.equal(done.status, 202, JSON.stringify(done.json));
    const final = await closed(id, 120_000);
    assert.equal(final.status, 'scored', final.reason);
    assert.deepEqual(final.score, { score: 2, maxScore: 2, passed: true });
    phase(`${id}: scored after the engine restart`);

    assert.deepEqual(createsByName(id), { [pod.holder]: 1, [pod.workstation]: 1, [pod.target]: 1 }, 'exactly one container ever created per member');
    assert.deepEqual(await podCreatesSince(id, restartedAt), [], 'no member of the pod was created after the engine restart');
    assert.deepEqual(await left(id), [], 'none is left, holder included');
    const jwks = (await (await fetch(`${base}/.well-known/arbiter/keys`)).json()) as Jwks;
    const check = await verifyResults(resultsDir(t.config.storageDir, id), jwks);
    assert.ok(check.ok, JSON.stringify(check));
  });

  it('the Docker engine dies with its containers under a running pod (a power loss): failed with environment_reset, one create per container, none left (holder included), evidence and audit written, the lease released', { timeout: 150_000 }, async () => {
    if (!host) await startHost();
    const subject = 'pods-engine-crash';
    const { sat, id, pod } = await webReconSat(subject);
    await spawn(sat, id);
    await reach(id, 'running');
    assert.deepEqual((await left(id)).map((c) => c.State), ['running', 'running', 'running']);
    const quota = env.client.workflow.getHandle(quotaWorkflowId(TENANT, subject));
    assert.ok(id in (await quota.query(quotaQuery)).leases, 'the running scenario holds its lease');

    // Nothing outlives this one: the pod's environment is gone, and the engine, started again,
    // finds its containers exited (no event says so; the container worker's monitor finds them).
    phase(`${id}: the Docker engine dies with its containers under the running pod`);
    const crashedAt = Math.floor(Date.now() / 1000);
    await engine.crash();
    const final = await closed(id, 120_000);
    assert.equal(final.status, 'failed', final.reason);
    assert.match(final.reason ?? '', /^environment_reset: service "(pod|workstation|target)" exited \(code -?\d+\) before completion$/);
    assert.ok(final.reset, 'the state names the service whose exit reset the environment');
    assert.equal(host!.child.exitCode, null, `the container worker survived the engine's crash: ${host!.tail()}`);
    phase(`${id}: ${final.reason ?? ''}`);

    assert.deepEqual(createsByName(id), { [pod.holder]: 1, [pod.workstation]: 1, [pod.target]: 1 }, 'exactly one container ever created per member');
    assert.deepEqual(await podCreatesSince(id, crashedAt), [], 'no member of the pod was created after the crash');
    assert.deepEqual(await left(id), [], 'none is left, holder included');

    // Its evidence says how each container ended; its audit chain holds and says why it failed.
    const results = resultsDir(t.config.storageDir, id);
    const environment = JSON.parse(readFileSync(join(results, RESULTS.evidenceDir, 'environment.json'), 'utf8')) as { containers: Array<{ name: string; role: string; running?: boolean }> };
    assert.deepEqual(environment.containers.map((c) => `${c.role}:${c.name}`), ['holder:pod', 'service:workstation', 'service:target']);
    for (const c of environment.containers) assert.equal(c.running, false, `${c.name} was found stopped: ${JSON.stringify(c)}`);
    assert.ok(existsSync(join(results, RESULTS.evidenceDir, MANIFEST_FILE)), 'the evidence manifest');
    assert.equal(existsSync(join(results, RESULTS.envelope)), false, 'a failed scenario has no verdict');
    const audit = auditOf(id);
    assert.ok(verifyChainText(audit).ok, 'the audit chain holds');
    const events = audit.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEntry);
    for (const e of ['container.launched', 'container.exited', 'container.removed', 'status.failed']) assert.ok(events.some((x) => x.event === e), `audited: ${e}`);
    assert.equal(events.find((x) => x.event === 'status.failed')?.data?.reason, final.reason);

    // Released by the workflow itself on its way out, so the subject can spawn again.
    await waitFor('the lease released', async () => (id in (await quota.query(quotaQuery)).leases ? undefined : true), 30_000);
  });

  it('a pod launched halfway whose workflow is gone: its host removes it when it starts again (the reconciler\'s own pass), holder included', { timeout: 120_000 }, async () => {
    if (host) await stopHost();
    const { sat, id, pod } = await webReconSat('pods-orphaned');
    await killMidLaunch(pod, () => spawn(sat, id));
    assert.deepEqual(createsByName(id), { [pod.holder]: 1, [pod.workstation]: 1 });
    assert.equal((await left(id)).length, 2, 'the half-launched pod is there while its host is down');
    // The workflow is terminated (as from the Temporal UI) before the launch is retried: nothing of
    // it tears the pod down, and no retry will finish it.
    await env.client.workflow.getHandle(id).terminate('fault test: gone with its pod launched halfway');
    await startHost();
    // A container worker reconciles its own containers as it starts (workers/workers.ts).
    await waitFor('the restarted host to remove the half-launched pod', async () => ((await left(id)).length === 0 ? true : undefined), 60_000);

    // The scheduled reconciler finds nothing more of it, and no error.
    const report = await env.client.workflow.execute(RECONCILE_WORKFLOW_TYPE, { taskQueue: MAIN_TASK_QUEUE, workflowId: `reconcile-${randomUUID()}`, args: [] }) as ReconcileReport;
    const mine = report.hosts.find((h) => h.hostId === t.config.hostId);
    assert.ok(mine && !mine.error, JSON.stringify(report));
    assert.deepEqual(mine.removed.filter((r) => r.scenarioId === id), []);
    assert.deepEqual(await left(id), [], 'none is left, holder included');
    assert.deepEqual(createsByName(id), { [pod.holder]: 1, [pod.workstation]: 1 }, 'the target was never created');
    phase(`${id}: the restarted host removed the half-launched pod`);
  });
});
