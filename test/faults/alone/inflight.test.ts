// Fault suite: 30 scenarios in flight through the real API over loopback while the pieces under
// them are killed and restarted: both workers SIGKILLed at several points (after create, while
// waiting, before launch, while scoring, while signing) and restarted, the Temporal dev server
// (SQLite file) restarted once, the Docker engine restarted once. Afterwards every scenario has
// ended, the engine's own event record shows exactly one scenario container ever created per
// scenario and none left, no scenario has two verdicts, and every verdict verifies.
//
// Runs alone (scripts/test.sh, after the main invocation): it owns a Docker engine of its own
// (test/support/restartable.ts), so restarting it touches no other test's containers and none of
// the developer's, but 30 scenarios and their restarts want the machine to themselves.
//
// The engine runs with live-restore, as deployed (README "Engines with live-restore"): its restart
// (an upgrade) leaves batch C's containers running, so batch C is completed after it and scores
// like A and B, in the containers it had before. One of C has its container's process killed
// after the restart: the container worker's monitor, reconnected to the restarted engine's
// events, reports the exit, and that scenario ends `failed` with `environment_reset`, as any
// scenario whose environment is gone (workflows/scenario.ts, "the container stopped before
// completion"): Arbiter does not relaunch it (a second container would hand the subject a fresh
// environment under the same scenario and break "one container per scenario"). An engine that
// dies with its containers is test/faults/pods.test.ts's.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defaultPayloadConverter } from '@temporalio/common';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Client, Connection } from '@temporalio/client';
import { buildApp } from '../../../api/app.ts';
import { buildTemplateImages } from '../../../infra/images.ts';
import { LABELS } from '../../../activities/container-spec.ts';
import type { Jwks } from '../../../infra/keys.ts';
import { loadPlans } from '../../../infra/plans.ts';
import { resultsDir, RESULTS, verifyResults } from '../../../infra/results.ts';
import { DEFAULT_TEMPLATES_DIR } from '../../../infra/template.ts';
import { mintToken } from '../../../infra/tokens.ts';
import { statusQuery, type ScenarioState, type ScenarioStatus } from '../../../contract/scenario.ts';
import { REPO, testConfig, waitFor, type TestConfig } from '../../support/harness.ts';
import { apiClient } from '../../support/api-client.ts';
import {
  recordEngineEvents,
  startDevServer,
  startPrivateDockerd,
  startWorker,
  type DevServer,
  type EventRecorder,
  type PrivateDockerd,
  type WorkerKind,
  type WorkerProcess,
} from '../../support/restartable.ts';

const PER_BATCH = 10;
const TENANT = 'fault-acme';
const ANSWER = { outcome: 'success', submission: { answer: 'hello' } } as const;

interface Kill { point: string; kind: WorkerKind; at: string }

describe('faults: 30 scenarios in flight through worker kills, a Temporal restart and a Docker engine restart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-fault-'));
  const completionSecret = randomBytes(32).toString('base64url');
  const started = Date.now();
  const clock = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
  const phase = (what: string) => console.log(`[${clock()}] ${what}`);

  let engine: PrivateDockerd;
  let temporal: DevServer;
  let t: TestConfig;
  let connection: Connection;
  let client: Client;
  let app: FastifyInstance;
  let base: string;
  let recorder: EventRecorder;
  const workers: Partial<Record<WorkerKind, WorkerProcess>> = {};
  const starts: Record<WorkerKind, number> = { main: 0, container: 0 };
  const kills: Kill[] = [];

  before(async () => {
    engine = await startPrivateDockerd({ dir, dataRoot: join(REPO, '.data', 'fault-engine') });
    // The engine is this test's alone: whatever an interrupted earlier run left in it goes.
    for (const c of await engine.docker.listContainers({ all: true })) await engine.docker.getContainer(c.Id).remove({ force: true });
    await buildTemplateImages(engine.docker);
    temporal = await startDevServer({ dir });
    t = await testConfig({ COMPLETION_HMAC_SECRET: completionSecret, DOCKER_SOCKET: engine.socket, TEMPORAL_ADDRESS: temporal.address });
    recorder = recordEngineEvents(engine.docker, { label: [`${LABELS.managed}=true`] });
    await Promise.all([startWorkerAndWait('main'), startWorkerAndWait('container')]);
    connection = await Connection.connect({ address: temporal.address });
    client = new Client({ connection });
    app = await buildApp({ config: t.config, temporal: client, plans: loadPlans(), templatesDir: DEFAULT_TEMPLATES_DIR, checks: {}, httpRateLimitPerMinute: 1_000_000 });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    phase(`stack up: engine ${engine.socket}, temporal ${temporal.address}, API ${base}`);
  });

  after(async () => {
    recorder?.stop();
    await app?.close();
    for (const w of Object.values(workers)) await w.kill().catch(() => undefined);
    await connection?.close();
    await temporal?.stop();
    if (engine) {
      for (const c of await engine.docker.listContainers({ all: true }).catch(() => [])) await engine.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
      await engine.stop();
    }
    t?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  // ---- processes ---------------------------------------------------------------------------------

  async function startWorkerAndWait(kind: WorkerKind): Promise<void> {
    const n = ++starts[kind];
    const w = startWorker(kind, {
      ARBITER_MODE: 'production',
      TEMPORAL_ADDRESS: temporal.address,
      ARBITER_STORAGE_DIR: t.config.storageDir,
      ARBITER_KEYS_DIR: t.config.keysDir,
      ARBITER_HOST_ID: t.config.hostId,
      DOCKER_SOCKET: engine.socket,
      LOG_LEVEL: 'info',
      WORKER_HTTP_PORT: 'off',
      TEMPORAL_METRICS_ADDRESS: 'off',
      ...(kind === 'container' ? { COMPLETION_HMAC_SECRET: completionSecret } : {}),
    }, dir, `${kind}-${n}`);
    workers[kind] = w;
    await waitFor(`the ${kind} worker (start ${n}) polling`, async () => {
      if (w.child.exitCode !== null) throw new Error(`the ${kind} worker exited ${w.child.exitCode}: ${w.tail()}`);
      return readFileSync(w.log, 'utf8').includes('worker started"') ? true : undefined;
    }, 90_000);
  }

  async function kill(kind: WorkerKind, point: string): Promise<void> {
    await workers[kind]!.kill();
    kills.push({ point, kind, at: clock() });
    phase(`SIGKILL ${kind} worker: ${point}`);
  }

  async function killAndRestart(kinds: WorkerKind[], point: string): Promise<void> {
    await Promise.all(kinds.map((k) => kill(k, point)));
    await Promise.all(kinds.map((k) => startWorkerAndWait(k)));
  }

  // ---- the API, as a client uses it ------------------------------------------------------------

  const call = apiClient(() => base);

  async function spawnBatch(subject: string): Promise<string[]> {
    const et = (await mintToken('et', { sub: subject, tenant: TENANT, plan: 'enterprise' }, t.config.secrets.ET_HMAC_SECRET!, { ttlSeconds: 900 })).token;
    return Promise.all(Array.from({ length: PER_BATCH }, async () => {
      const sat = await call('POST', '/api/sat', et, { template: 'hello', track: 'intro' });
      assert.equal(sat.status, 201, JSON.stringify(sat.json));
      const spawned = await call('POST', '/api/spawn', sat.json!.sat as string, {});
      assert.equal(spawned.status, 202, JSON.stringify(spawned.json));
      return spawned.json!.scenarioId as string;
    }));
  }

  const status = async (id: string): Promise<ScenarioState> => client.workflow.getHandle(id).query(statusQuery);
  const statuses = async (ids: string[]) => Promise.all(ids.map(status));

  async function allReach(ids: string[], wanted: (s: ScenarioStatus) => boolean, what: string, timeoutMs = 120_000): Promise<ScenarioState[]> {
    return waitFor(what, async () => {
      const states = await statuses(ids);
      return states.every((s) => wanted(s.status)) ? states : undefined;
    }, timeoutMs);
  }

  /** Every workflow closed (a status query can read "scored" while the verdict is still being signed), then their final states. */
  async function allClosed(ids: string[], what: string, timeoutMs: number): Promise<ScenarioState[]> {
    await waitFor(what, async () => {
      const described = await Promise.all(ids.map((id) => client.workflow.getHandle(id).describe()));
      return described.every((d) => d.status.name !== 'RUNNING') ? true : undefined;
    }, timeoutMs);
    return statuses(ids);
  }

  /** As a scenario host's controller gets it: from the API, with an operator token. */
  async function completionToken(id: string): Promise<string> {
    const operator = (await mintToken('operator', { sub: 'host-controller', role: 'operator' }, t.config.secrets.OPERATOR_HMAC_SECRET!, { ttlSeconds: 900 })).token;
    const r = await call('POST', `/api/scenarios/${id}/completion-token`, operator);
    assert.equal(r.status, 200, `the completion token of ${id}: ${JSON.stringify(r.json)}`);
    return r.json!.token as string;
  }

  const scenarioCreates = (id: string) => recorder.events.filter((e) => e.action === 'create' && e.attributes[LABELS.scenario] === id && e.attributes[LABELS.role] === 'scenario');

  async function activityCompletions(id: string, activity: string): Promise<number> {
    const history = await client.workflow.getHandle(id).fetchHistory();
    const scheduled = new Map<string, string>();
    let completed = 0;
    for (const e of history.events ?? []) {
      const s = e.activityTaskScheduledEventAttributes;
      if (s) scheduled.set(String(e.eventId), s.activityType?.name ?? '');
      const c = e.activityTaskCompletedEventAttributes;
      if (c && scheduled.get(String(c.scheduledEventId)) === activity) completed++;
    }
    return completed;
  }

  /** Local activities of that type the history recorded as done (one marker each). */
  async function localCompletions(id: string, activity: string): Promise<number> {
    const history = await client.workflow.getHandle(id).fetchHistory();
    return (history.events ?? []).filter((e) => {
      const marker = e.markerRecordedEventAttributes;
      const data = marker?.markerName === 'core_local_activity' ? marker.details?.data?.payloads?.[0] : undefined;
      return data !== undefined && defaultPayloadConverter.fromPayload<{ activity_type: string }>(data).activity_type === activity;
    }).length;
  }

  const auditEvents = (id: string): Array<{ event: string; data?: Record<string, unknown> }> =>
    readFileSync(join(resultsDir(t.config.storageDir, id), RESULTS.audit), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string });

  it('every scenario ends, with one container ever created, none left, at most one verdict, and every verdict verifying', { timeout: 10 * 60_000 }, async () => {
    // 1. Ten spawns; both workers die the moment the engine has created the nth container (n
    //    drawn per run, and printed, so a failing run can be told apart).
    const nth = 2 + Math.floor(Math.random() * 7);
    let created = 0;
    let afterCreate: Promise<void> | undefined;
    const offCreate = recorder.on((e) => {
      if (e.action === 'create' && e.attributes[LABELS.role] === 'scenario' && ++created === nth) afterCreate = killAndRestart(['main', 'container'], `after the engine created scenario container ${nth} of 10`);
    });
    phase('spawning batch A');
    const a = await spawnBatch('fault-a');
    await waitFor('the kill after create', async () => (afterCreate ? true : undefined));
    offCreate();
    await afterCreate;
    await allReach(a, (s) => s === 'running', 'batch A running');
    phase('batch A running');

    // 2. The container worker dies while batch A waits for completion. Batch B is spawned while it
    //    is down: admitted, its launches scheduled and not started; then the main worker dies too,
    //    before any of B's containers exists. Both come back and B launches.
    await kill('container', 'while batch A waits for completion');
    phase('spawning batch B with no container worker');
    const b = await spawnBatch('fault-b');
    await allReach(b, (s) => s === 'launching', 'batch B admitted and launching');
    assert.deepEqual(b.flatMap(scenarioCreates), [], 'no container of batch B exists before a container worker runs');
    await kill('main', 'before launch (batch B launching, none of its containers created)');
    await Promise.all([startWorkerAndWait('main'), startWorkerAndWait('container')]);
    await allReach(b, (s) => s === 'running', 'batch B running');
    phase('batch B running');

    // 3. Batch C, then thirty scenarios in flight: the Temporal server restarts under them.
    const c = await spawnBatch('fault-c');
    const all = [...a, ...b, ...c];
    await allReach(c, (s) => s === 'running', 'batch C running');
    phase('30 running: restarting the Temporal dev server');
    await temporal.restart();
    await allReach(all, (s) => s === 'running', 'all 30 still running after the Temporal restart', 60_000);
    for (const w of Object.values(workers)) assert.equal(w.child.exitCode, null, `the ${w.kind} worker survived the Temporal restart: ${w.tail()}`);
    phase('Temporal restarted: all 30 still running');

    // 4. Complete A and B. The container worker dies when the engine creates the first scorer
    //    container; the main worker dies the moment the signing activity has written the first
    //    verdict (before or just after it reports back: either way the retry must not sign twice).
    let whileScoring: Promise<void> | undefined;
    const offScorer = recorder.on((e) => {
      if (!whileScoring && e.action === 'create' && e.attributes[LABELS.role] === 'scorer') whileScoring = killAndRestart(['container'], 'while scoring (scorer container created)');
    });
    let whileSigning: Promise<void> | undefined;
    let watching = true;
    const watchSigning = (async () => {
      while (watching && !whileSigning) {
        const signed = [...a, ...b].find((id) => existsSync(join(resultsDir(t.config.storageDir, id), RESULTS.envelope)));
        if (signed) whileSigning = killAndRestart(['main'], `while signing (${signed}'s verdict just written)`);
        else await new Promise((r) => setTimeout(r, 5));
      }
    })();

    // The first scenario's completion: sent twice at once, with a different one racing them.
    const first = a[0]!;
    const firstToken = await completionToken(first);
    const raced = await Promise.all([
      call('POST', `/api/scenarios/${first}/complete`, firstToken, ANSWER),
      call('POST', `/api/scenarios/${first}/complete`, firstToken, ANSWER),
      call('POST', `/api/scenarios/${first}/complete`, firstToken, { outcome: 'failure', submission: { answer: 'other' } }),
    ]);
    const accepted = raced.filter((r) => r.status === 202);
    assert.ok(accepted.length >= 1, JSON.stringify(raced));
    for (const r of raced) assert.ok(r.status === 202 || r.status === 409, JSON.stringify(r));
    // Either the two identical ones won (both 202, the other 409) or the other won (202, both 409).
    assert.ok(
      (raced[0].status === 202 && raced[1].status === 202 && raced[2].status === 409) || (raced[0].status === 409 && raced[1].status === 409 && raced[2].status === 202),
      `identical completions get the same answer: ${JSON.stringify(raced.map((r) => r.status))}`,
    );
    const winner = raced[2].status === 202 ? { outcome: 'failure', submission: { answer: 'other' } } : ANSWER;

    phase('completing batches A and B');
    await Promise.all([...a.slice(1), ...b].map(async (id) => {
      const r = await call('POST', `/api/scenarios/${id}/complete`, await completionToken(id), ANSWER);
      assert.equal(r.status, 202, `${id}: ${JSON.stringify(r.json)}`);
    }));
    const scoredStates = await allClosed([...a, ...b], 'batches A and B ended', 180_000);
    watching = false;
    await watchSigning;
    offScorer();
    assert.ok(whileScoring, 'the container worker was killed while scoring');
    assert.ok(whileSigning, 'the main worker was killed while signing');
    await whileScoring;
    await whileSigning;
    for (const s of scoredStates) assert.equal(s.status, 'scored', `${s.scenarioId}: ${s.reason ?? ''}`);
    phase('batches A and B scored');

    // The same completion after the end is answered the same way; a different one is refused.
    const again = await call('POST', `/api/scenarios/${first}/complete`, firstToken, winner);
    assert.equal(again.status, 202, JSON.stringify(again.json));
    const different = await call('POST', `/api/scenarios/${first}/complete`, firstToken, { outcome: 'gave_up', submission: {} });
    assert.equal(different.status, 409, JSON.stringify(different.json));

    // 5. The Docker engine restarts under batch C, which is waiting for completion: with
    //    live-restore its containers run on, the same ones, started before the restart.
    const containersOf = async (ids: string[]) => Promise.all(ids.map(async (id) => {
      const info = await engine.docker.getContainer(`arbiter-${id}`).inspect();
      return `${id} ${info.Id} ${info.State.Status} ${info.State.StartedAt}`;
    }));
    const cBefore = await containersOf(c);
    const monitorConnections = () => (readFileSync(workers.container!.log, 'utf8').match(/container monitor: following the engine's container events/g) ?? []).length;
    const connectionsBefore = monitorConnections();
    phase('restarting the Docker engine under batch C');
    const engineRestartedAt = Math.floor(Date.now() / 1000);
    await engine.restart();
    assert.deepEqual(await containersOf(c), cBefore, 'batch C runs on in the containers it had, running since before the restart');
    assert.deepEqual((await statuses(c)).map((s) => s.status), c.map(() => 'running'), 'batch C still running after the engine restart');
    for (const w of Object.values(workers)) assert.equal(w.child.exitCode, null, `the ${w.kind} worker survived the engine restart: ${w.tail()}`);
    await waitFor('the container monitor following the restarted engine\'s events', async () => (monitorConnections() > connectionsBefore ? true : undefined), 60_000);
    phase('engine restarted: batch C still running, the monitor reconnected');

    // The monitor hears exits again: one of C loses its container's process (docker-init, the
    // container's PID 1, SIGKILLed from the host) and ends failed, its environment gone.
    const reset = c[c.length - 1]!;
    const rest = c.slice(0, -1);
    process.kill((await engine.docker.getContainer(`arbiter-${reset}`).inspect()).State.Pid, 'SIGKILL');
    const [resetEnd] = await allClosed([reset], `${reset} ended after its container's process was killed`, 120_000);
    assert.equal(resetEnd!.status, 'failed', `${reset}: ${resetEnd!.status} ${resetEnd!.reason ?? ''}`);
    // 137: docker-init, the container's first process, died of SIGKILL (128 + 9).
    assert.equal(resetEnd!.reason, 'environment_reset: service "main" exited (code 137) before completion');
    phase(`${reset}: ${resetEnd!.reason ?? ''}`);

    // The others are completed and score, as A and B did.
    await Promise.all(rest.map(async (id) => {
      const r = await call('POST', `/api/scenarios/${id}/complete`, await completionToken(id), ANSWER);
      assert.equal(r.status, 202, `${id}: ${JSON.stringify(r.json)}`);
    }));
    for (const s of await allClosed(rest, 'batch C ended after the engine restart', 180_000)) assert.equal(s.status, 'scored', `${s.scenarioId}: ${s.reason ?? ''}`);
    phase('batch C scored after the engine restart');

    // ---- after recovery -----------------------------------------------------------------------
    const jwksResponse = await fetch(`${base}/.well-known/arbiter/keys`);
    const jwks = (await jwksResponse.json()) as Jwks;
    // The engine keeps its event log in memory only (so the live record above spans its restart);
    // its own log since the restart confirms that no scenario container was created again.
    const sinceRestart = (await engine.docker.getEvents({ since: engineRestartedAt, until: Math.ceil(Date.now() / 1000) + 1, filters: { type: ['container'], event: ['create'], label: [`${LABELS.role}=scenario`] } })) as unknown as AsyncIterable<Buffer>;
    let recreated = '';
    for await (const chunk of sinceRestart) recreated += chunk.toString('utf8');
    assert.equal(recreated.trim(), '', 'no scenario container was created after the engine restart');
    for (const id of all) {
      const creates = scenarioCreates(id);
      assert.equal(creates.length, 1, `${id}: exactly one scenario container was ever created (${creates.length})`);
      assert.equal(creates[0]!.attributes.name, `arbiter-${id}`);
      assert.deepEqual(await engine.docker.listContainers({ all: true, filters: { label: [`${LABELS.scenario}=${id}`] } }), [], `${id}: no container is left`);
      const dirOf = resultsDir(t.config.storageDir, id);
      // Signed by the sealScenario local activity (signVerdict, an activity, before lean-history).
      const signed = (await activityCompletions(id, 'signVerdict')) + (await localCompletions(id, 'sealScenario'));
      if (id === reset) {
        assert.equal(signed, 0, `${id}: a failed scenario has no verdict`);
        assert.equal(existsSync(join(dirOf, RESULTS.envelope)), false);
        continue;
      }
      assert.equal(signed, 1, `${id}: one signing completion in the history (${signed})`);
      // Scored in concludeScenario with the evidence and the teardown (score, before lean-history).
      assert.equal((await activityCompletions(id, 'score')) + (await activityCompletions(id, 'concludeScenario')), 1, `${id}: scored once`);
      const check = await verifyResults(dirOf, jwks);
      assert.ok(check.ok, `${id}: ${JSON.stringify(check)}`);
      const events = auditEvents(id);
      assert.equal(events.filter((e) => e.event === 'completion.accepted').length, 1, `${id}: one accepted completion`);
      assert.equal(events.filter((e) => e.event === 'score.computed').length, 1, `${id}: one score`);
    }
    // The first scenario's one effect is the completion that won the race.
    const firstAudit = auditEvents(first).find((e) => e.event === 'completion.accepted');
    assert.equal(firstAudit?.data?.outcome, winner.outcome);
    assert.deepEqual(await engine.docker.listContainers({ all: true }), [], 'the engine holds no container at all');

    const points = new Set(kills.map((k) => k.point.split(' (')[0]));
    assert.ok(points.size >= 5, JSON.stringify(kills));
    phase(`done: ${kills.length} kills ${JSON.stringify(kills)}`);
  });
});
