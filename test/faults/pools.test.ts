// Faults under warm pools: pooled-flag@1 kept warm (ARBITER_POOLS=pooled-flag@1=3:4) by the
// container worker as deployed (`node --import tsx workers/container.ts`), on a Docker engine of
// this test's own (data root .data/fault-engine-pools), with the Temporal dev server, the main
// worker and the API in this process.
//
// 1. Three spawns at once; the container worker is SIGKILLed as soon as the engine reports the
//    first rename of a pooled container (a claim under way). Restarted, it is SIGKILLed again at
//    the first create of a pooled container (its keeper refilling). Restarted once more: every
//    scenario runs, each in containers of its own, each scored from the flag injected into it.
// 2. The engine restarts under a full pool (SIGTERM, started again; it runs with live-restore, as
//    deployed): the warm entries run on, and a spawn after the restart claims one of them and
//    scores from the flag injected into it; the keeper's next pass keeps the others and refills.
// 3. The pool set to 0 (the worker restarted with pooled-flag@1=0:0): every entry is removed.
//
// Then, from the engine's own events (create, rename, destroy, recorded live across its restart):
// every container created is destroyed, none is left, and no container id was ever renamed to the
// names of two scenarios.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { buildApp } from '../../api/app.ts';
import { buildTemplateImages } from '../../infra/images.ts';
import { LABELS } from '../../activities/container-spec.ts';
import { entryPrefix, poolStateOf } from '../../activities/pool/pool-logic.ts';
import { readClaimRecord } from '../../activities/scenario-injection.ts';
import { scenarioContainerName } from '../../contract/containers.ts';
import { loadPlans } from '../../infra/plans.ts';
import { DEFAULT_TEMPLATES_DIR } from '../../infra/template.ts';
import { mintToken } from '../../infra/tokens.ts';
import { scenarioIdFromJti, statusQuery, type ScenarioState } from '../../contract/scenario.ts';
import { SEARCH_ATTRIBUTES } from '../../contract/queues.ts';
import { bundleWorkflows, createMainWorker } from '../../workers/workers.ts';
import { REPO, testConfig, tools, waitFor, type TestConfig } from '../support/harness.ts';
import { recordEngineEvents, startPrivateDockerd, startWorker, type EventRecorder, type PrivateDockerd, type WorkerProcess } from '../support/restartable.ts';
import { apiClient } from '../support/api-client.ts';

Runtime.install({ logger: new DefaultLogger('WARN') });

const TENANT = 'fault-pools';
const POOL = 'pooled-flag@1';
const MIN = 3;

describe('faults: warm pools through worker kills mid-claim and mid-refill, an engine restart and a drain', () => {
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-fault-pools-'));
  const completionSecret = randomBytes(32).toString('base64url');
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

  before(async () => {
    engine = await startPrivateDockerd({ dir, dataRoot: join(REPO, '.data', 'fault-engine-pools') });
    for (const c of await engine.docker.listContainers({ all: true })) await engine.docker.getContainer(c.Id).remove({ force: true });
    // Only pooled-flag's images (and the holder's): a copy of its folder hashes to the same digest.
    const only = mkdtempSync(join(dir, 'templates-'));
    cpSync(join(DEFAULT_TEMPLATES_DIR, 'pooled-flag'), join(only, 'pooled-flag'), { recursive: true });
    await buildTemplateImages(engine.docker, { templatesDir: only });
    env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: tools().TEMPORAL_BIN },
        ip: '127.0.0.1',
        extraArgs: Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
      },
    });
    t = await testConfig({ COMPLETION_HMAC_SECRET: completionSecret, DOCKER_SOCKET: engine.socket, TEMPORAL_ADDRESS: env.address });
    recorder = recordEngineEvents(engine.docker, { event: ['create', 'rename', 'destroy'], label: [`${LABELS.managed}=true`] });
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

  async function startHost(pools: string): Promise<WorkerProcess> {
    assert.equal(host, undefined, 'one container worker at a time');
    const n = ++starts;
    const w = startWorker('container', {
      ARBITER_MODE: 'production',
      COMPLETION_HMAC_SECRET: completionSecret,
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_NAMESPACE: t.config.temporalNamespace,
      ARBITER_STORAGE_DIR: t.config.storageDir,
      ARBITER_KEYS_DIR: t.config.keysDir,
      ARBITER_HOST_ID: t.config.hostId,
      ARBITER_POOLS: pools,
      DOCKER_SOCKET: engine.socket,
      LOG_LEVEL: 'info',
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
  async function killHost(point: string): Promise<void> {
    const w = host!;
    host = undefined;
    await w.kill();
    phase(`SIGKILL container worker: ${point}`);
  }
  async function stopHost(): Promise<void> {
    const w = host!;
    host = undefined;
    w.child.kill('SIGTERM');
    assert.equal((await w.exited).code, 0, w.tail());
  }
  /** Resolves at the first engine event `match` accepts from now on. */
  function next(match: (e: { action: string; attributes: Record<string, string> }) => boolean): Promise<void> {
    return new Promise((resolve) => {
      const off = recorder.on((e) => {
        if (!match(e)) return;
        off();
        resolve();
      });
    });
  }

  const call = apiClient(() => base);
  async function spawn(subject: string): Promise<string> {
    const et = (await mintToken('et', { sub: subject, tenant: TENANT, plan: 'pro' }, t.config.secrets.ET_HMAC_SECRET!, { ttlSeconds: 900 })).token;
    const r = await call('POST', '/api/sat', et, { template: 'pooled-flag', track: 'intro' });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const sat = r.json!.sat as string;
    const id = scenarioIdFromJti((JSON.parse(Buffer.from(sat.split('.')[1]!, 'base64url').toString('utf8')) as { jti: string }).jti);
    const s = await call('POST', '/api/spawn', sat, {});
    assert.equal(s.status, 202, JSON.stringify(s.json));
    return id;
  }
  const status = (id: string) => env.client.workflow.getHandle(id).query(statusQuery);
  async function reach(id: string, wanted: ScenarioState['status'], timeoutMs = 120_000): Promise<ScenarioState> {
    return waitFor(`${id} ${wanted}`, async () => {
      const s = await status(id);
      if (s.status !== wanted && ['scored', 'failed', 'denied', 'cancelled', 'timed_out'].includes(s.status)) throw new Error(`${id} ended ${s.status}: ${s.reason ?? ''}`);
      return s.status === wanted ? s : undefined;
    }, timeoutMs);
  }
  /** The pooled (unclaimed) entries' mains, complete or not. */
  async function pooledMains(): Promise<Array<{ id: string; running: boolean }>> {
    const found = await engine.docker.listContainers({ all: true, filters: { label: [LABELS.pool] } });
    return found.filter((c) => (c.Names[0] ?? '').slice(1) === entryPrefix(c.Labels[LABELS.pool]!, c.Labels[LABELS.poolEntry]!)).map((c) => ({ id: c.Id, running: c.State === 'running' }));
  }
  const poolFull = (what: string, ok: (ids: string[]) => boolean = () => true) => waitFor(what, async () => {
    const p = await pooledMains();
    const ids = p.filter((x) => x.running).map((x) => x.id);
    return ids.length === MIN && p.length === MIN && ok(ids) ? ids : undefined;
  }, 120_000);

  const scenarios: string[] = [];

  it('worker killed mid-claim, then mid-refill, then restarted: every scenario runs in containers of its own and scores from its own flag', { timeout: 300_000 }, async () => {
    await startHost(`${POOL}=${MIN}:4`);
    const warm = await poolFull('the pool filled');
    phase(`pool full: ${warm.length} entries`);

    // A claim: a pooled name renamed to a scenario's (not a new entry's main taking its pooled name).
    const claimRename = next((e) => e.action === 'rename' && /^\/?arbiter-pool-/.test(e.attributes.oldName ?? '') && (e.attributes.name ?? '').startsWith('arbiter-scn-'));
    scenarios.push(...await Promise.all(['a', 'b', 'c'].map((x) => spawn(`pools-${x}`))));
    await claimRename;
    await killHost('the engine reported the first rename of a pooled container');

    const refillCreate = next((e) => e.action === 'create' && (e.attributes.name ?? '').startsWith('arbiter-pool-'));
    await startHost(`${POOL}=${MIN}:4`);
    await refillCreate;
    await killHost('the engine reported the first create of a refill');

    await startHost(`${POOL}=${MIN}:4`);
    for (const id of scenarios) await reach(id, 'running');
    phase('all three running after the restarts');
    const mains = new Set<string>();
    for (const id of scenarios) {
      const info = await engine.docker.getContainer(scenarioContainerName(id)).inspect();
      assert.ok(!mains.has(info.Id), `${id} has a main container of its own`);
      mains.add(info.Id);
      const claim = readClaimRecord(t.config.storageDir, id);
      assert.ok(claim?.injected.flag, `${id} has its claim record`);
      assert.equal(claim.containers[0]?.id, info.Id);
      if (claim.pooled) assert.ok(warm.includes(info.Id) || recorder.events.some((e) => e.id === info.Id && e.action === 'create' && (e.attributes.name ?? '').startsWith('arbiter-pool-')), `${id} was claimed from a pooled container`);
    }
    phase(`claims: ${scenarios.map((id) => `${id.slice(0, 12)} pooled=${String(readClaimRecord(t.config.storageDir, id)!.pooled)}`).join(', ')}`);
    await poolFull('the pool refilled after the kills');
    for (const id of scenarios) {
      const flag = readClaimRecord(t.config.storageDir, id)!.injected.flag!.value;
      const token = (await call('POST', `/api/scenarios/${id}/completion-token`, (await mintToken('operator', { sub: 'ops', role: 'operator' }, t.config.secrets.OPERATOR_HMAC_SECRET!, { ttlSeconds: 900 })).token)).json!.token as string;
      assert.equal((await call('POST', `/api/scenarios/${id}/complete`, token, { outcome: 'success', submission: { answer: flag } })).status, 202);
    }
    for (const id of scenarios) {
      const end = await reach(id, 'scored');
      assert.deepEqual(end.score, { score: 2, maxScore: 2, passed: true }, id);
    }
    phase('all three scored from their own flags');
  });

  it('the engine restarted under a full pool (live-restore): the entries run on, a spawn after it claims one and scores, the others are kept', { timeout: 200_000 }, async () => {
    if (!host) await startHost(`${POOL}=${MIN}:4`);
    const warm = await poolFull('the pool full');
    await engine.restart();
    phase('engine restarted');
    assert.deepEqual((await pooledMains()).filter((e) => e.running).map((e) => e.id).sort(), [...warm].sort(), 'the same entries, running');
    assert.equal(host!.child.exitCode, null, `the container worker survived the engine restart: ${host!.tail()}`);

    const id = await spawn('pools-after-restart');
    await reach(id, 'running');
    const main = await engine.docker.getContainer(scenarioContainerName(id)).inspect();
    const claim = readClaimRecord(t.config.storageDir, id);
    assert.ok(claim?.pooled, `${id} was claimed from the pool: ${JSON.stringify(claim)}`);
    assert.ok(warm.includes(main.Id), `${id} runs in an entry warmed before the restart`);
    const token = (await call('POST', `/api/scenarios/${id}/completion-token`, (await mintToken('operator', { sub: 'ops', role: 'operator' }, t.config.secrets.OPERATOR_HMAC_SECRET!, { ttlSeconds: 900 })).token)).json!.token as string;
    assert.equal((await call('POST', `/api/scenarios/${id}/complete`, token, { outcome: 'success', submission: { answer: claim.injected.flag!.value } })).status, 202);
    const end = await reach(id, 'scored');
    assert.deepEqual(end.score, { score: 2, maxScore: 2, passed: true });
    // A claim asks the keeper for a pass: it refills the claimed one and keeps the restored two.
    const kept = warm.filter((w) => w !== main.Id);
    await poolFull('the pool refilled after the claim, the restored entries kept', (ids) => kept.every((k) => ids.includes(k)));
    phase(`${id} scored in a restored entry; the other two kept`);
  });

  it('the pool set to 0: every entry removed; the engine\'s events account for every container (each destroyed, none renamed to two scenarios)', { timeout: 200_000 }, async () => {
    if (host) await stopHost();
    await startHost(`${POOL}=0:0`);
    await waitFor('every container gone', async () => ((await engine.docker.listContainers({ all: true, filters: { label: [`${LABELS.managed}=true`] } })).length === 0 ? true : undefined), 120_000);
    await stopHost();

    const created = new Set(recorder.events.filter((e) => e.action === 'create').map((e) => e.id));
    const destroyed = new Set(recorder.events.filter((e) => e.action === 'destroy').map((e) => e.id));
    assert.ok(created.size >= MIN * 3, `containers created: ${created.size}`);
    for (const id of created) assert.ok(destroyed.has(id), `container ${id.slice(0, 12)} was destroyed`);
    const owners = new Map<string, Set<string>>();
    for (const e of recorder.events.filter((x) => x.action === 'rename')) {
      const state = poolStateOf(e.attributes.name ?? '', e.attributes);
      if (state.kind !== 'claimed') continue;
      owners.set(e.id, (owners.get(e.id) ?? new Set()).add(state.scenarioId ?? '?'));
    }
    assert.ok(owners.size >= 1, 'some pooled container was claimed');
    for (const [id, who] of owners) assert.equal(who.size, 1, `container ${id.slice(0, 12)} renamed to ${[...who].join(' and ')}`);
    for (const id of owners.keys()) assert.ok(created.has(id), 'every claimed container was created (as a pooled one) under the recorder');
    phase(`${created.size} containers created and destroyed, ${owners.size} claimed, each by one scenario`);
  });
});
