// Warm pools end to end on the real engine and the real Temporal dev server: a copy of
// pooled-flag@1 (tags of this test's own) kept warm by the container worker's pool keeper. A spawn
// is served by renaming a pooled container (its id is one that was pooled before the spawn), the
// pool refills to its min, a second spawn gets another; each gets a flag of its own, injected
// after the claim, which the scorer checks against claim.json in the evidence; a changed template
// digest drains the pool and fills it under the new key; with no entry left, a spawn starts cold.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LABELS } from '../../activities/container-spec.ts';
import { entryPrefix } from '../../activities/pool/pool-logic.ts';
import type { ClaimRecord } from '../../activities/scenario-injection.ts';
import { scenarioContainerName } from '../../contract/containers.ts';
import { MANIFEST_FILE } from '../../infra/evidence-manifest.ts';
import { buildTemplateImages } from '../../infra/images.ts';
import { injections, poolMisses } from '../../infra/metrics.ts';
import { resultsDir, RESULTS } from '../../infra/results.ts';
import { startOpsServer } from '../../workers/ops-server.ts';
import { randomUUID } from 'node:crypto';
import { MAIN_TASK_QUEUE, RECONCILE_WORKFLOW_TYPE } from '../../contract/queues.ts';
import type { ReconcileReport } from '../../contract/reconcile.ts';
import { docker, waitFor } from '../support/harness.ts';
import { copyPooledFlag, stopPoolTest } from '../support/templates.ts';
import { startStack, type Stack } from '../support/stack.ts';

const ID = 'pool-e2e';
const TEMPLATE = `${ID}@1`;
const MIN = 2;

interface Pooled { key: string; entry: string; id: string; name: string; template: string }

describe('warm pools: pooled-flag served from the pool, refilled, drained on a new digest, cold when empty', () => {
  let stack: Stack;
  let root: string;
  before(async () => {
    // web-recon as it is (same folder, same digest, its images already built): a pooled pod.
    // hello as it is: a template this host keeps no pool of.
    root = await copyPooledFlag(ID, { alongside: ['web-recon', 'hello'] });
    stack = await startStack({ templatesDir: root, env: { ARBITER_POOLS: `${TEMPLATE}=${MIN}:3,web-recon@1=1:1` } });
  });
  after(() => stopPoolTest(stack, ID, root));

  /** The host's pooled (unclaimed) main containers of this test's pooled-flag copy, running. */
  async function pooled(template = TEMPLATE): Promise<Pooled[]> {
    const found = await docker.listContainers({ all: true, filters: { label: [LABELS.pool, `${LABELS.host}=${stack.t.config.hostId}`] } });
    return found.flatMap((c) => {
      const key = c.Labels[LABELS.pool]!;
      const entry = c.Labels[LABELS.poolEntry]!;
      const name = (c.Names[0] ?? '').replace(/^\//, '');
      return name === entryPrefix(key, entry) && c.State === 'running' && c.Labels[LABELS.template] === template ? [{ key, entry, id: c.Id, name, template }] : [];
    });
  }
  const poolAtMin = (what: string, ok: (p: Pooled[]) => boolean = () => true) => waitFor(what, async () => {
    const p = await pooled();
    return p.length === MIN && ok(p) ? p : undefined;
  }, 90_000);

  async function spawn(sub: string, template = ID, track = 'intro', plan = 'free'): Promise<{ id: string; access: string }> {
    const sat = await stack.sat(await stack.et(sub, 'acme', plan), template, track);
    const r = await stack.call('POST', '/api/spawn', sat, {});
    assert.equal(r.status, 202, JSON.stringify(r.json));
    const id = r.json!.scenarioId as string;
    const access = r.json!.accessToken as string;
    await waitFor(`${id} running`, async () => {
      const v = (await stack.call('GET', `/api/scenarios/${id}`, access)).json;
      if (v?.status === 'failed' || v?.status === 'denied') throw new Error(`${id} ended ${String(v.status)}: ${String(v.reason ?? v.reasons)}`);
      return v?.status === 'running' ? true : undefined;
    });
    return { id, access };
  }
  const exec = async (s: { id: string; access: string }, cmd: string[]) => {
    const r = await stack.call('POST', `/api/scenarios/${s.id}/exec`, s.access, { cmd });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    return r.json as { exitCode: number; stdout: string; stderr: string };
  };
  async function finish(s: { id: string; access: string }, answer: string) {
    const done = await stack.call('POST', `/api/scenarios/${s.id}/complete`, await stack.completionToken(s.id), { outcome: 'success', submission: { answer } });
    assert.equal(done.status, 202, JSON.stringify(done.json));
    return waitFor(`${s.id} scored`, async () => {
      const v = (await stack.call('GET', `/api/scenarios/${s.id}`, s.access)).json!;
      if (['failed', 'timed_out', 'cancelled'].includes(v.status as string)) throw new Error(`${s.id} ended ${String(v.status)}: ${String(v.reason)}`);
      return v.status === 'scored' ? v : undefined;
    }, 120_000);
  }
  const evidence = (id: string) => join(resultsDir(stack.t.config.storageDir, id), RESULTS.evidenceDir);
  const claimOfHost = (id: string) => JSON.parse(readFileSync(join(stack.t.config.storageDir, 'scenarios', id, 'claim.json'), 'utf8')) as ClaimRecord;
  const claimOf = (id: string) => JSON.parse(readFileSync(join(evidence(id), 'claim.json'), 'utf8')) as ClaimRecord;

  it('a spawn gets a pooled container, the pool refills, a second spawn gets another, each with its own flag that the scorer checks', async () => {
    const warm = await poolAtMin('the pool filled to its min');
    const key = warm[0]!.key;
    assert.ok(warm.every((p) => p.key === key));

    const a = await spawn('pool-a');
    const aInfo = await docker.getContainer(scenarioContainerName(a.id)).inspect();
    assert.ok(warm.some((p) => p.id === aInfo.Id), `${a.id} runs in a container that was pooled before the spawn`);
    assert.equal(aInfo.Config.Labels[LABELS.scenario], undefined, 'a claimed container keeps the labels it was made with');
    assert.equal(aInfo.Config.Labels[LABELS.pool], key);
    assert.equal(aInfo.Config.Image, aInfo.Image, 'the keeper made it from the image it checked, named by its id');
    assert.ok(!aInfo.Config.Env.some((e) => e.startsWith('ARBITER_')), `no per-scenario environment: ${aInfo.Config.Env.join(' ')}`);

    const flagA = await exec(a, ['cat', '/work/.arbiter/flag']);
    assert.match(flagA.stdout, /^ARB\{[0-9a-f]{32}\}\n$/);
    const mode = await exec(a, ['stat', '-c', '%a %u', '/work/.arbiter/flag']);
    assert.equal(mode.stdout, '400 1000\n');
    const identity = JSON.parse((await exec(a, ['cat', '/work/.arbiter/scenario.json'])).stdout) as Record<string, string>;
    assert.deepEqual(identity, { scenarioId: a.id, tenant: 'acme', subject: 'pool-a' });

    const refilled = await poolAtMin('the pool refilled to its min after the claim', (p) => !p.some((x) => x.id === aInfo.Id));
    const b = await spawn('pool-b');
    const bInfo = await docker.getContainer(scenarioContainerName(b.id)).inspect();
    assert.notEqual(bInfo.Id, aInfo.Id);
    assert.ok(refilled.some((p) => p.id === bInfo.Id), `${b.id} got one of the entries pooled before it`);
    const flagB = await exec(b, ['cat', '/work/.arbiter/flag']);
    assert.notEqual(flagB.stdout, flagA.stdout, 'each scenario has its own flag');

    const endA = await finish(a, flagA.stdout.trim());
    assert.deepEqual(endA.score, { score: 2, maxScore: 2, passed: true });
    // B answers with A's flag: not its own.
    const endB = await finish(b, flagA.stdout.trim());
    assert.deepEqual(endB.score, { score: 1, maxScore: 2, passed: false });

    const claimA = claimOf(a.id);
    assert.equal(claimA.pooled, true);
    assert.equal(claimA.poolKey, key);
    assert.equal(claimA.containers[0]?.id, aInfo.Id);
    assert.equal(claimA.injected.flag?.value, flagA.stdout.trim());
    const manifest = JSON.parse(readFileSync(join(evidence(a.id), MANIFEST_FILE), 'utf8')) as { files: Array<{ path: string }> };
    assert.ok(manifest.files.some((f) => f.path === 'claim.json'), 'the manifest (and so the verdict) binds claim.json');
    // A container that served a scenario never goes back to the pool.
    await waitFor('the claimed containers removed', async () => {
      const left = await Promise.all([aInfo.Id, bInfo.Id].map((id) => docker.getContainer(id).inspect().then(() => id, () => undefined)));
      return left.every((x) => x === undefined) ? true : undefined;
    });
    console.log(`launch up to injection (claim; a fresh claim runs no readiness): pooled ${claimA.claimMs} ms, ${claimOf(b.id).claimMs} ms`);

    // The keeper's state, as the container worker's /readyz and /metrics show it.
    const ops = await startOpsServer({ host: '127.0.0.1', port: 0, checks: {}, log: { warn: () => undefined }, details: () => ({ pools: stack.host.pools.status() }) });
    try {
      const ready = await (await fetch(`${ops.url}/readyz`)).json() as { pools: Array<Record<string, unknown>> };
      assert.deepEqual(ready.pools.map((p) => ({ template: p.template, min: p.min, max: p.max })), [{ template: TEMPLATE, min: MIN, max: 3 }, { template: 'web-recon@1', min: 1, max: 1 }]);
      assert.equal(ready.pools[0]!.key, key);
      const metrics = await (await fetch(`${ops.url}/metrics`)).text();
      assert.match(metrics, new RegExp(`arbiter_pool_hits_total\\{template="${TEMPLATE}"\\} [2-9]`));
      assert.match(metrics, /arbiter_pool_refills_total\{template="pool-e2e@1"\} [1-9]/);
      assert.match(metrics, /arbiter_pool_claim_seconds_count\{template="pool-e2e@1"\} [2-9]/);
      // Both claims wrote their flag through the process the keeper started in the entry ahead of them.
      assert.match(metrics, /arbiter_injections_total\{template="pool-e2e@1",how="primed"\} [2-9]/);
      assert.match(metrics, new RegExp(`arbiter_pool_ready\\{template="${TEMPLATE}",key="${key}"\\} \\d`));
    } finally {
      await ops.close();
    }
  });

  it('after its keeper restarts (its injectors gone, as after a worker restart) each entry it finds gets one again, and the next claim writes through it', async () => {
    const keeper = stack.host.pools;
    const waiting = async (id: string) => {
      const states = await Promise.all(((await docker.getContainer(id).inspect()).ExecIDs ?? []).map(async (x) => (await docker.getExec(x).inspect()).Running));
      return states.filter(Boolean).length;
    };
    const warm = await poolAtMin('the pool at its min before the restart');
    await keeper.stop();
    // Stopped, the keeper dropped its injectors: their processes saw EOF and exited.
    await waitFor('the old injectors gone', async () => ((await Promise.all(warm.map((p) => waiting(p.id)))).every((n) => n === 0) ? true : undefined));
    keeper.start();
    await keeper.settle();
    const entries = await poolAtMin('the pool at its min after the restart');
    assert.deepEqual((await Promise.all(entries.map((p) => waiting(p.id)))), entries.map(() => 1), 'one injector waits in each entry again');
    const primedBefore = (await injections.get()).values.find((v) => v.labels.template === TEMPLATE && v.labels.how === 'primed')?.value ?? 0;
    const s = await spawn('pool-restarted');
    assert.equal((await exec(s, ['cat', '/work/.arbiter/flag'])).stdout.trim(), claimOfHost(s.id).injected.flag?.value);
    assert.equal((await injections.get()).values.find((v) => v.labels.template === TEMPLATE && v.labels.how === 'primed')?.value, primedBefore + 1);
    const r = await stack.call('POST', `/api/scenarios/${s.id}/cancel`, s.access);
    assert.equal(r.status, 202, JSON.stringify(r.json));
  });

  it('a pod (web-recon: holder, workstation, target) is pooled whole, claimed whole, and works: the workstation reaches the target by name', async () => {
    const [entry] = await waitFor('a pooled web-recon pod', async () => {
      const p = await pooled('web-recon@1');
      return p.length === 1 ? p : undefined;
    }, 90_000);
    const members = await docker.listContainers({ all: true, filters: { label: [`${LABELS.poolEntry}=${entry!.entry}`] } });
    const before = members.map((c) => c.Id).sort();
    assert.equal(before.length, 3);
    const s = await spawn('pool-pod', 'web-recon', 'web', 'pro');
    const names = [scenarioContainerName(s.id), `${scenarioContainerName(s.id)}-pod`, `${scenarioContainerName(s.id)}-svc-target`];
    const ids = (await Promise.all(names.map((n) => docker.getContainer(n).inspect()))).map((i) => i.Id).sort();
    assert.deepEqual(ids, before, 'the whole pooled pod, renamed to the scenario');
    const robots = await exec(s, ['wget', '-q', '-O', '-', 'http://target:8080/robots.txt']);
    assert.match(robots.stdout, /Disallow: \/notes\//);
    const r = await stack.call('POST', `/api/scenarios/${s.id}/cancel`, s.access);
    assert.equal(r.status, 202, JSON.stringify(r.json));
    await waitFor('the claimed pod removed, never back in the pool', async () => {
      const left = await Promise.all(before.map((id) => docker.getContainer(id).inspect().then(() => id, () => undefined)));
      return left.every((x) => x === undefined) ? true : undefined;
    });
    assert.equal(claimOfHost(s.id).pooled, true);
  });

  it('the reconciler removes a claimed container whose workflow is gone (its name says whose it is) and keeps the pool\'s entries', async () => {
    const warm = await poolAtMin('the pool at its min');
    const s = await spawn('pool-orphan');
    const info = await docker.getContainer(scenarioContainerName(s.id)).inspect();
    assert.equal(info.Config.Labels[LABELS.scenario], undefined);
    await stack.env.client.workflow.getHandle(s.id).terminate('test: a workflow gone before its cleanup');
    const report = await stack.env.client.workflow.execute(RECONCILE_WORKFLOW_TYPE, { taskQueue: MAIN_TASK_QUEUE, workflowId: `reconcile-${randomUUID()}`, args: [] }) as ReconcileReport;
    const mine = report.hosts.find((h) => h.hostId === stack.t.config.hostId);
    assert.ok(mine && !mine.error, JSON.stringify(report));
    assert.deepEqual(mine.removed.filter((r) => r.scenarioId === s.id).map((r) => `${r.containerName}:${r.workflowStatus}`), [`${scenarioContainerName(s.id)}:TERMINATED`]);
    await assert.rejects(docker.getContainer(info.Id).inspect(), (err: { statusCode?: number }) => err.statusCode === 404);
    const unclaimed = warm.filter((p) => p.id !== info.Id);
    for (const p of unclaimed) assert.equal((await docker.getContainer(p.id).inspect()).Name, `/${p.name}`, `pooled entry ${p.name} kept`);
  });

  it('a new template digest drains the pool: the old entries are removed and the new key is filled', async () => {
    const old = await poolAtMin('the pool at its min');
    const oldKey = old[0]!.key;
    const file = join(root, ID, '1', 'template.json');
    const t = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    t.description = `${String(t.description)} (edited: a new digest)`;
    writeFileSync(file, JSON.stringify(t, null, 2));
    // The images are rebuilt for the new digest (a launch refuses one built from another).
    await buildTemplateImages(docker, { templatesDir: root });
    const fresh = await poolAtMin('the pool filled under the new key', (p) => p.every((x) => x.key !== oldKey));
    for (const o of old) await assert.rejects(docker.getContainer(o.id).inspect(), (err: { statusCode?: number }) => err.statusCode === 404, `old entry ${o.name} removed`);
    // And a spawn of the new version is served from the new key.
    const s = await spawn('pool-c');
    const info = await docker.getContainer(scenarioContainerName(s.id)).inspect();
    assert.ok(fresh.some((p) => p.id === info.Id));
    const flag = (await exec(s, ['cat', '/work/.arbiter/flag'])).stdout.trim();
    assert.deepEqual((await finish(s, flag)).score, { score: 2, maxScore: 2, passed: true });
  });

  const missesOf = async (template: string) => (await poolMisses.get()).values.find((v) => v.labels.template === template)?.value ?? 0;

  it('with no pooled entry left, a spawn starts cold and is still injected and scored (claim.json: pooled false), and counts a miss', async () => {
    await stack.host.pools.stop();
    for (const p of await pooled()) await docker.getContainer(p.id).remove({ force: true });
    const missed = await missesOf(TEMPLATE);
    const s = await spawn('pool-cold');
    assert.equal(await missesOf(TEMPLATE), missed + 1, 'the host keeps this pool: an empty one is a miss');
    const flag = (await exec(s, ['cat', '/work/.arbiter/flag'])).stdout.trim();
    assert.match(flag, /^ARB\{[0-9a-f]{32}\}$/);
    const info = await docker.getContainer(scenarioContainerName(s.id)).inspect();
    assert.equal(info.Config.Labels[LABELS.scenario], s.id);
    assert.equal(info.Config.Labels[LABELS.pool], undefined);
    assert.deepEqual((await finish(s, flag)).score, { score: 2, maxScore: 2, passed: true });
    const claim = claimOf(s.id);
    assert.equal(claim.pooled, false);
    assert.equal(claim.poolKey, undefined);
    console.log(`cold launch up to injection (create, start, readiness): ${claim.claimMs} ms`);
  });
  it('a template the host keeps no pool of starts cold without looking for an entry, and counts no miss', async () => {
    await stack.host.pools.settle();
    assert.equal(stack.host.pools.keeps?.('no-such-key'), false, 'the keeper has worked out its pools');
    const s = await spawn('pool-none', 'hello');
    assert.equal(claimOfHost(s.id).pooled, false);
    assert.equal(await missesOf('hello@1'), 0);
    assert.equal((await exec(s, ['echo', 'inside'])).stdout.trim(), 'inside');
    const done = await stack.call('POST', `/api/scenarios/${s.id}/cancel`, s.access);
    assert.equal(done.status, 202, JSON.stringify(done.json));
  });
});
