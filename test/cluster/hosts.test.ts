// The cluster shape only (ARBITER_E2E_SHAPE=cluster, after `bash scripts/cluster.sh up`; the
// cluster step of scripts/test.sh runs it): scenarios spawned through the API spread over both
// container hosts, each host's containers are on its own engine, subject access reaches the host
// a scenario runs on, and every verdict verifies offline.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { LABELS } from '../../activities/container-spec.ts';
import { storedResults } from '../support/stored-results.ts';
import { mintToken } from '../../infra/tokens.ts';
import type { ScenarioState } from '../../contract/scenario.ts';
import { containersOf, waitFor } from '../support/harness.ts';
import { clusterEnv, e2eShape } from '../support/cluster.ts';
import { runArbiter } from '../support/signed-results.ts';
import { startStack, type Stack } from '../support/stack.ts';

const SCENARIOS = 10;

describe('cluster shape: scenarios spread over two container hosts, each on its own engine', () => {
  let stack: Stack;
  before(async () => {
    if (e2eShape() !== 'cluster') throw new Error('this file runs on the cluster shape: `bash scripts/cluster.sh up`, then ARBITER_E2E_SHAPE=cluster');
    stack = await startStack();
  });
  after(async () => { await stack?.stop(); });

  it(`${SCENARIOS} scenarios run on both hosts, each container on its host's engine; exec reaches each; all score and verify`, { timeout: 6 * 60_000 }, async () => {
    assert.equal(stack.hosts.length, 2);
    const engines = stack.hosts.map((h) => ({ hostId: h.hostId, docker: new Docker({ socketPath: h.dockerSocket }) }));
    assert.notEqual(stack.hosts[0]!.dockerSocket, stack.hosts[1]!.dockerSocket, 'two engines, not one');

    const et = (await mintToken('et', { sub: 'spreader', tenant: 'cluster-acme', plan: 'enterprise' }, stack.t.config.secrets.ET_HMAC_SECRET!, { ttlSeconds: 900 })).token;
    const spawned = await Promise.all(Array.from({ length: SCENARIOS }, async () => {
      const sat = await stack.call('POST', '/api/sat', et, { template: 'hello', track: 'intro' });
      assert.equal(sat.status, 201, JSON.stringify(sat.json));
      const r = await stack.call('POST', '/api/spawn', sat.json!.sat as string, {});
      assert.equal(r.status, 202, JSON.stringify(r.json));
      return { id: r.json!.scenarioId as string, access: r.json!.accessToken as string };
    }));
    for (const s of spawned) {
      await waitFor(`${s.id} running`, async () => {
        const r = await stack.call('GET', `/api/scenarios/${s.id}`, s.access);
        if (r.json?.status === 'failed') throw new Error(`${s.id} failed: ${String(r.json.reason)}`);
        return r.json?.status === 'running' ? true : undefined;
      }, 180_000);
    }

    // Where each scenario's container is, asked of each engine directly.
    const placed = new Map<string, string>();
    for (const s of spawned) {
      const found = (await Promise.all(engines.map(async (e) => (await e.docker.listContainers({ all: true, filters: { label: [`${LABELS.scenario}=${s.id}`] } }))
        .map((c) => ({ hostId: e.hostId, label: c.Labels[LABELS.host] }))))).flat();
      assert.equal(found.length, 1, `${s.id}: one container, on one engine (${JSON.stringify(found)})`);
      assert.equal(found[0]!.label, found[0]!.hostId, `${s.id}: the container's host label names the host whose engine holds it`);
      placed.set(s.id, found[0]!.hostId);
    }
    const perHost = stack.hosts.map((h) => [...placed.values()].filter((x) => x === h.hostId).length);
    assert.ok(perHost.every((n) => n > 0), `both hosts run scenarios (per host: ${JSON.stringify(perHost)})`);

    // The API relays subject access to the host the scenario runs on.
    for (const hostId of stack.hosts.map((h) => h.hostId)) {
      const s = spawned.find((x) => placed.get(x.id) === hostId)!;
      const r = await stack.call('POST', `/api/scenarios/${s.id}/exec`, s.access, { cmd: ['sh', '-c', 'echo on $(hostname)'] });
      assert.equal(r.status, 200, `exec on ${hostId}: ${JSON.stringify(r.json)}`);
      assert.equal(r.json!.exitCode, 0);
      assert.match(r.json!.stdout as string, /^on \S+\n$/);
    }

    const operator = await stack.operator('host-controller');
    await Promise.all(spawned.map(async (s) => {
      const token = await stack.completionToken(s.id);
      const r = await stack.call('POST', `/api/scenarios/${s.id}/complete`, token, { outcome: 'success', submission: { answer: 'hello' } });
      assert.equal(r.status, 202, `${s.id}: ${JSON.stringify(r.json)}`);
    }));
    for (const s of spawned) {
      const state = await waitFor(`${s.id} closed`, async () => {
        const d = await stack.env.client.workflow.getHandle(s.id).describe();
        if (d.status.name === 'RUNNING') return undefined;
        return (await stack.call('GET', `/api/scenarios/${s.id}`, operator)).json as unknown as ScenarioState;
      }, 180_000);
      assert.equal(state.status, 'scored', `${s.id}: ${state.reason ?? ''}`);
      // From the cluster's artifact store (the bucket), as a user downloads it.
      const results = await storedResults(stack.t.config, s.id);
      const verified = await runArbiter(['verify', results.dir], { env: { ARBITER_KEYS_DIR: stack.t.config.keysDir } });
      results.cleanup();
      assert.equal(verified.code, 0, `${s.id} (on ${placed.get(s.id)}): ${verified.stdout}${verified.stderr}`);
      await waitFor(`${s.id}: no container left`, async () => ((await containersOf(s.id)).length === 0 ? true : undefined), 60_000);
    }
  });

  // What an operator opens: the UI server built for this shape, reading the server on PostgreSQL
  // (its visibility: the custom search attributes filter the list).
  it('the Temporal UI of the cluster serves its pages and lists the scenarios of a tenant, filtered by a custom search attribute', { timeout: 3 * 60_000 }, async () => {
    const { ui } = clusterEnv();
    assert.ok(ui, 'scripts/bootstrap-cluster.sh built the Temporal UI server and cluster.sh started it (ARBITER_CLUSTER_UI in .data/cluster/cluster.env)');
    const page = await fetch(`${ui}/namespaces/${stack.env.namespace ?? 'default'}/workflows`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);

    const et = (await mintToken('et', { sub: 'watcher', tenant: 'ui-tenant', plan: 'enterprise' }, stack.t.config.secrets.ET_HMAC_SECRET!, { ttlSeconds: 900 })).token;
    const ids = await Promise.all([1, 2].map(async () => {
      const sat = await stack.call('POST', '/api/sat', et, { template: 'hello', track: 'intro' });
      const r = await stack.call('POST', '/api/spawn', sat.json!.sat as string, {});
      assert.equal(r.status, 202, JSON.stringify(r.json));
      return r.json!.scenarioId as string;
    }));
    const query = encodeURIComponent(`WorkflowType='scenarioWorkflow' AND ArbiterTenant='ui-tenant'`);
    const listed = await waitFor('the UI to list both scenarios', async () => {
      const r = await fetch(`${ui}/api/v1/namespaces/${stack.env.namespace ?? 'default'}/workflows?query=${query}`);
      assert.equal(r.status, 200, await r.clone().text());
      const body = (await r.json()) as { executions?: Array<{ execution: { workflowId: string } }> };
      const found = (body.executions ?? []).map((e) => e.execution.workflowId).sort();
      return found.length === ids.length ? found : undefined;
    }, 60_000);
    assert.deepEqual(listed, [...ids].sort());
    const operator = await stack.operator('ui-watcher');
    for (const id of ids) assert.equal((await stack.call('POST', `/api/scenarios/${id}/cancel`, operator, {})).status, 202);
  });
});
