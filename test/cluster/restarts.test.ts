// The cluster shape only (ARBITER_E2E_SHAPE=cluster; the cluster step of scripts/test.sh runs it,
// one file at a time, since it restarts the server every other file uses): the Temporal server
// and PostgreSQL under it are restarted while 16 scenarios are in flight over two container
// hosts. Afterwards no scenario is lost (every accepted spawn ends scored), none is duplicated
// (one workflow execution and one scenario container ever created per scenario id, by the
// engines' own event records), no container is left, and every verdict verifies with the CLI.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { LABELS } from '../../activities/container-spec.ts';
import { resultsKey, RESULTS } from '../../infra/results.ts';
import { openArtifactStore } from '../../infra/artifact-store.ts';
import { storedResults } from '../support/stored-results.ts';
import { mintToken } from '../../infra/tokens.ts';
import { statusQuery, type ScenarioState, type ScenarioStatus } from '../../contract/scenario.ts';
import { SCENARIO_WORKFLOW_TYPE } from '../../contract/queues.ts';
import { containersOf, REPO, waitFor } from '../support/harness.ts';
import { e2eShape } from '../support/cluster.ts';
import { recordEngineEvents, type EventRecorder } from '../support/restartable.ts';
import { runArbiter } from '../support/signed-results.ts';
import { startStack, type Stack } from '../support/stack.ts';

const run = promisify(execFile);
const PER_BATCH = 8;
const ANSWER = { outcome: 'success', submission: { answer: 'hello' } } as const;

describe('cluster shape: the Temporal server and PostgreSQL restart under 16 scenarios in flight', () => {
  const started = Date.now();
  const phase = (what: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${what}`);
  let stack: Stack;
  let recorders: EventRecorder[] = [];
  const restarts: string[] = [];

  before(async () => {
    if (e2eShape() !== 'cluster') throw new Error('this file runs on the cluster shape: `bash scripts/cluster.sh up`, then ARBITER_E2E_SHAPE=cluster');
    stack = await startStack();
    recorders = stack.hosts.map((h) => recordEngineEvents(new Docker({ socketPath: h.dockerSocket }), { event: ['create'], label: [`${LABELS.managed}=true`] }));
  });
  after(async () => {
    for (const r of recorders) r.stop();
    await stack?.stop();
  });

  /** `scripts/cluster.sh restart <part>`: stops it, starts it, waits until it answers again. */
  async function restart(part: 'temporal' | 'postgres', when: string): Promise<void> {
    phase(`restarting ${part}: ${when}`);
    const t0 = Date.now();
    await run('bash', [join(REPO, 'scripts', 'cluster.sh'), 'restart', part], { cwd: REPO });
    restarts.push(`${part} (${when}, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    phase(`${part} back after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }

  async function spawnBatch(subject: string): Promise<string[]> {
    const et = (await mintToken('et', { sub: subject, tenant: 'restart-acme', plan: 'enterprise' }, stack.t.config.secrets.ET_HMAC_SECRET!, { ttlSeconds: 1800 })).token;
    return Promise.all(Array.from({ length: PER_BATCH }, async () => {
      const sat = await stack.call('POST', '/api/sat', et, { template: 'hello', track: 'intro' });
      assert.equal(sat.status, 201, JSON.stringify(sat.json));
      const spawned = await stack.call('POST', '/api/spawn', sat.json!.sat as string, {});
      assert.equal(spawned.status, 202, JSON.stringify(spawned.json));
      return spawned.json!.scenarioId as string;
    }));
  }

  // Read through Temporal, retried by waitFor while a server or the database is coming back.
  const statuses = async (ids: string[]) => Promise.all(ids.map((id) => stack.env.client.workflow.getHandle(id).query<ScenarioState>(statusQuery)));
  async function allReach(ids: string[], wanted: ScenarioStatus, what: string, timeoutMs = 240_000): Promise<void> {
    await waitFor(what, async () => {
      const states = await statuses(ids);
      const failed = states.find((s) => s.status === 'failed' || s.status === 'cancelled');
      if (failed) throw new Error(`${failed.scenarioId} ended ${failed.status}: ${failed.reason ?? ''}`);
      return states.every((s) => s.status === wanted) ? true : undefined;
    }, timeoutMs);
  }

  const scenarioCreates = (id: string) => recorders.flatMap((r) => r.events).filter((e) => e.attributes[LABELS.scenario] === id && e.attributes[LABELS.role] === 'scenario');

  it('no scenario lost, none duplicated, every verdict verifies', { timeout: 15 * 60_000 }, async () => {
    // 1. Eight accepted spawns, and the Temporal server restarts while they are admitted and launched.
    const a = await spawnBatch('restart-a');
    phase(`batch A accepted: ${a.length}`);
    await restart('temporal', 'batch A admitting and launching');
    await allReach(a, 'running', 'batch A running after the Temporal restart');
    phase('batch A running');

    // 2. Eight more, and PostgreSQL restarts under them (and under A, waiting for completion).
    const b = await spawnBatch('restart-b');
    phase(`batch B accepted: ${b.length}`);
    await restart('postgres', 'batch B admitting and launching, batch A waiting');
    await allReach(b, 'running', 'batch B running after the PostgreSQL restart');
    const all = [...a, ...b];
    await allReach(all, 'running', 'all 16 running');
    phase('all 16 running');

    // 3. All sixteen complete at once; PostgreSQL restarts when the first verdict is written
    //    (scoring and signing in flight), then the Temporal server once more.
    await Promise.all(all.map(async (id) => {
      const r = await stack.call('POST', `/api/scenarios/${id}/complete`, await stack.completionToken(id), ANSWER);
      assert.equal(r.status, 202, `${id}: ${JSON.stringify(r.json)}`);
    }));
    const store = openArtifactStore(stack.t.config);
    await waitFor('a first verdict written', async () => ((await Promise.all(all.map((id) => store.exists(resultsKey(id, RESULTS.envelope))))).some(Boolean) ? true : undefined), 180_000);
    await restart('postgres', 'scoring and signing in flight');
    await restart('temporal', 'scoring and signing in flight');

    await waitFor('all 16 closed', async () => {
      const described = await Promise.all(all.map((id) => stack.env.client.workflow.getHandle(id).describe()));
      return described.every((d) => d.status.name !== 'RUNNING') ? true : undefined;
    }, 300_000);
    phase('all 16 closed');

    // ---- nothing lost, nothing twice ----------------------------------------------------------
    const ended = await statuses(all);
    for (const s of ended) assert.equal(s.status, 'scored', `${s.scenarioId}: ${s.status} ${s.reason ?? ''}`);
    let executions = 0;
    for await (const _ of stack.env.client.workflow.list({ query: `WorkflowType = '${SCENARIO_WORKFLOW_TYPE}'` })) executions++;
    assert.equal(executions, all.length, 'one workflow execution per accepted spawn, no other');
    const perHost = stack.hosts.map((h) => recorders[stack.hosts.indexOf(h)]!.events.filter((e) => e.attributes[LABELS.role] === 'scenario').length);
    assert.ok(perHost.every((n) => n > 0), `scenarios ran on both hosts (${JSON.stringify(perHost)})`);
    const keys = stack.t.config.keysDir;
    for (const id of all) {
      const runs: string[] = [];
      for await (const wf of stack.env.client.workflow.list({ query: `WorkflowId = '${id}'` })) runs.push(wf.runId);
      assert.equal(runs.length, 1, `${id}: one workflow execution (${runs.join(', ')})`);
      const creates = scenarioCreates(id);
      assert.equal(creates.length, 1, `${id}: exactly one scenario container ever created (${creates.length})`);
      assert.equal(creates[0]!.attributes.name, `arbiter-${id}`);
      await waitFor(`${id}: no container left`, async () => ((await containersOf(id)).length === 0 ? true : undefined), 60_000);
      const results = await storedResults(stack.t.config, id);
      const verified = await runArbiter(['verify', results.dir], { env: { ARBITER_KEYS_DIR: keys } });
      results.cleanup();
      assert.equal(verified.code, 0, `${id}: ${verified.stdout}${verified.stderr}`);
    }
    phase(`done; restarts: ${restarts.join('; ')}`);
  });
});
