// What an operator sees, on the real components: the Temporal dev server with its UI, both
// workers (bundle with Arbiter's workflow interceptors, logs through pino as in production), the
// Docker engine, the API on loopback, the worker's ops server, and the Temporal UI in headless
// Chromium. One scenario of a fresh tenant runs to its verdict; another tenant's is denied.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { chromium } from 'playwright-core';
import { Client } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime, type Worker } from '@temporalio/worker';
import { buildApp } from '../../api/app.ts';
import { correlationClientInterceptor } from '../../api/correlation.ts';
import { loadPolicy } from '../../infra/policy/wasm-engine.ts';
import { correlationMixin } from '../../infra/correlation.ts';
import { loadPlans } from '../../infra/plans.ts';
import { readinessChecks } from '../../infra/readiness.ts';
import { DEFAULT_TEMPLATES_DIR } from '../../infra/template.ts';
import { mintToken } from '../../infra/tokens.ts';
import { startOpsServer, type OpsServer } from '../../workers/ops-server.ts';
import { runtimeOptions, sdkMetricsUrl } from '../../workers/telemetry.ts';
import { bundleWorkflows, createHostWorker, createMainWorker, type HostWorker } from '../../workers/workers.ts';
import { CORRELATION_HEADER, SCENARIO_WORKFLOW_TYPE, SEARCH_ATTRIBUTES } from '../../contract/queues.ts';
import type { ScenarioState } from '../../contract/scenario.ts';
import { containersOf, docker, REPO, testConfig, tools, waitFor, type TestConfig } from '../support/harness.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(REPO, 'test', 'artifacts');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

type Line = Record<string, unknown>;
/** A pino destination that keeps every JSON line in memory, as a log shipper would see them. */
function capture(): { lines: Line[]; stream: { write(s: string): void } } {
  const lines: Line[] = [];
  return { lines, stream: { write: (s: string) => { for (const l of s.split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Line); } } };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const apiLog = capture();
const workerLog = capture();
const sdkMetricsAddress = `127.0.0.1:${await freePort()}`;
// Exactly the production wiring of a worker process: Temporal's runtime logger through pino with
// the correlation mixin, and the SDK's Prometheus exporter.
Runtime.install({
  ...runtimeOptions(pino({ level: 'info', mixin: correlationMixin }, workerLog.stream), { http: undefined, sdkMetricsAddress }),
  shutdownSignals: [],
});

describe('operator view: Temporal UI, correlated logs, metrics, worker health', () => {
  let env: TestWorkflowEnvironment;
  let t: TestConfig;
  let client: Client;
  let app: FastifyInstance;
  let base: string;
  let uiPort: number;
  let ops: OpsServer;
  let main: Worker;
  let host: HostWorker;
  let workersDone: Promise<unknown>;
  let stopWorkers: () => void = () => undefined;

  const tenant = `tenant-${randomBytes(4).toString('hex')}`;
  const otherTenant = `other-${randomBytes(4).toString('hex')}`;
  const correlationId = `op-${randomUUID()}`;
  let scenarioId: string;
  let deniedId: string;
  let satToken: string;

  async function call(method: string, path: string, token?: string, body?: unknown, headers: Record<string, string> = {}) {
    const h: Record<string, string> = { ...headers };
    if (token) h.authorization = `Bearer ${token}`;
    if (body !== undefined) h['content-type'] = 'application/json';
    const res = await fetch(`${base}${path}`, { method, headers: h, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
  }

  async function idsWhere(query: string): Promise<string[]> {
    const ids: string[] = [];
    for await (const w of client.workflow.list({ query })) ids.push(w.workflowId);
    return ids.sort();
  }

  before(async () => {
    uiPort = await freePort();
    env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: tools().TEMPORAL_BIN },
        ip: '127.0.0.1',
        ui: true,
        uiPort,
        extraArgs: Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
      },
    });
    // The API's client, as api/server.ts builds it: the correlation id rides in a Temporal header.
    client = new Client({ connection: env.connection, namespace: env.namespace ?? 'default', interceptors: { workflow: [correlationClientInterceptor()] } });
    t = await testConfig();
    const policy = await loadPolicy(join(REPO, '.data', 'policy'));
    ({ worker: main } = await createMainWorker({ config: t.config, connection: env.nativeConnection, client: env.client, workflowBundle: await bundleWorkflows() }));
    host = await createHostWorker({ config: t.config, connection: env.nativeConnection, client: env.client });
    const stop = new Promise<void>((resolve) => { stopWorkers = resolve; });
    workersDone = main.runUntil(host.runUntil(stop));
    const searchAttributes = { connection: env.connection, namespace: env.namespace ?? 'default', wanted: SEARCH_ATTRIBUTES };
    app = await buildApp({
      config: t.config,
      temporal: client,
      plans: loadPlans(),
      templatesDir: DEFAULT_TEMPLATES_DIR,
      checks: readinessChecks({ config: t.config, temporal: env.connection, docker, policy, searchAttributes }),
      logger: { level: 'info', stream: apiLog.stream },
    });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    ops = await startOpsServer({
      host: '127.0.0.1',
      port: 0,
      checks: {
        ...readinessChecks({ config: t.config, temporal: env.nativeConnection, policy, searchAttributes }),
        worker: async () => (main.getState() === 'RUNNING' ? true : `failing: worker is ${main.getState()}`),
      },
      sdkMetricsUrl: sdkMetricsUrl(sdkMetricsAddress),
      log: pino({ level: 'silent' }),
    });

    const et = (await mintToken('et', { sub: 'alice', tenant, plan: 'free' }, t.config.secrets.ET_HMAC_SECRET!, { ttlSeconds: 600 })).token;
    const sat = await call('POST', '/api/sat', et, { template: 'hello', track: 'intro' });
    assert.equal(sat.status, 201, JSON.stringify(sat.json));
    satToken = sat.json!.sat as string;
    const spawned = await call('POST', '/api/spawn', satToken, {}, { 'x-correlation-id': correlationId });
    assert.equal(spawned.status, 202, JSON.stringify(spawned.json));
    assert.equal(spawned.headers.get('x-correlation-id'), correlationId);
    scenarioId = spawned.json!.scenarioId as string;

    // Another tenant's scenario, denied by the policy (track outside the plan): it must not show
    // under the first tenant's filter.
    const { token: deniedSat } = await mintToken('sat', {
      sub: 'bob', tenant: otherTenant, plan: 'free', template: 'hello', template_version: '1', track: 'web', retention_days: 7, jti: randomUUID(),
    }, t.config.secrets.SAT_HMAC_SECRET!, { ttlSeconds: 300 });
    const denied = await call('POST', '/api/spawn', deniedSat, {});
    assert.equal(denied.status, 403, JSON.stringify(denied.json));
    deniedId = (await idsWhere(`ArbiterTenant = '${otherTenant}'`).then((ids) => ids[0])) ?? '';

    await waitFor('the scenario to run', async () => {
      const r = await call('GET', `/api/scenarios/${scenarioId}`, satToken);
      return r.json?.status === 'running' ? true : undefined;
    });
  });

  after(async () => {
    if (scenarioId) {
      await env?.client.workflow.getHandle(scenarioId).cancel().catch(() => undefined);
      await waitFor('no container left', async () => ((await containersOf(scenarioId)).length === 0 ? true : undefined), 30_000).catch(async () => {
        for (const c of await containersOf(scenarioId)) await docker.getContainer(c.Id).remove({ force: true });
      });
    }
    await ops?.close();
    await app?.close();
    stopWorkers();
    await workersDone;
    await env?.teardown();
    t?.cleanup();
  });

  it('a running scenario is found by its tenant and status, with a static summary, current details and activity summaries', async () => {
    const running = await waitFor('visibility to index the running scenario', async () => {
      const ids = await idsWhere(`ArbiterTenant = '${tenant}' AND ArbiterStatus = 'running'`);
      return ids.length ? ids : undefined;
    });
    assert.deepEqual(running, [scenarioId]);
    assert.deepEqual(await idsWhere(`ArbiterTenant = '${tenant}' AND ArbiterTemplate = 'hello@1' AND ArbiterTrack = 'intro' AND ArbiterPlan = 'free' AND ArbiterSubject = 'alice'`), [scenarioId]);
    assert.ok(deniedId, 'the other tenant\'s scenario is indexed too');
    await waitFor('the denied scenario\'s status attribute', async () =>
      ((await idsWhere(`ArbiterTenant = '${otherTenant}' AND ArbiterStatus = 'denied'`)).length === 1 ? true : undefined));

    const handle = client.workflow.getHandle(scenarioId);
    const description = await handle.describe();
    assert.equal(await description.staticSummary(), `alice@${tenant} · hello@1 · track intro · plan free`);
    assert.match((await description.staticDetails()) ?? '', new RegExp(`\\*\\*Correlation id\\*\\* ${correlationId}`));
    const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    assert.match(metadata.currentDetails ?? '', new RegExp(`^running: waiting for completion, TTL \\d+ (min|h|s), container arbiter-${scenarioId} on host ${t.config.hostId}$`));

    const events = (await handle.fetchHistory()).events ?? [];
    // Admission runs as local activities, recorded as markers; the launch as a regular activity.
    const activityType = (e: (typeof events)[number]): string | undefined => {
      if (e.activityTaskScheduledEventAttributes) return e.activityTaskScheduledEventAttributes.activityType!.name!;
      const marker = e.markerRecordedEventAttributes;
      if (marker?.markerName !== 'core_local_activity') return undefined;
      return defaultPayloadConverter.fromPayload<{ activity_type: string }>(marker.details!.data!.payloads![0] as Payload).activity_type;
    };
    const summaries = events
      .filter((e) => activityType(e))
      .map((e) => `${e.markerRecordedEventAttributes ? 'local ' : ''}${activityType(e)!}: ${String(defaultPayloadConverter.fromPayload(e.userMetadata!.summary as Payload))}`);
    assert.deepEqual(summaries.map((s) => s.split(':')[0]), ['local admit', 'launchContainer']);
    assert.ok(summaries.includes('launchContainer: start the hardened container for hello@1'), summaries.join('\n'));
    assert.ok(summaries.some((s) => /^local admit: entitlements, OPA policy and host: may .+@.+ run hello@1\?$/.test(s)), summaries.join('\n'));
    // The correlation id arrived in the start request's Temporal header, not only in the input.
    const started = events[0]!.workflowExecutionStartedEventAttributes!;
    assert.equal(defaultPayloadConverter.fromPayload(started.header!.fields![CORRELATION_HEADER] as Payload), correlationId);
  });

  it('the Temporal UI, filtered by the tenant\'s search attribute, lists the scenario and not another tenant\'s', async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
      const query = `ArbiterTenant="${tenant}"`;
      await page.goto(`http://127.0.0.1:${uiPort}/namespaces/default/workflows?query=${encodeURIComponent(query)}`);
      await page.getByText(scenarioId).first().waitFor({ timeout: 60_000 });
      const text = await page.locator('body').innerText();
      assert.ok(text.includes(scenarioId), 'the scenario is listed');
      assert.ok(text.includes(SCENARIO_WORKFLOW_TYPE), 'with its workflow type');
      assert.ok(!text.includes(deniedId), 'another tenant\'s scenario is not');
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'temporal-ui-tenant.png') });

      // The scenario's own page: its static summary and the current details of the running step.
      await page.goto(`http://127.0.0.1:${uiPort}/namespaces/default/workflows/${scenarioId}`);
      await page.getByText('User Metadata').first().click({ timeout: 60_000 });
      // The UI renders summary and details as markdown, each in a sandboxed frame of its own.
      const framesText = async () => (await Promise.all(page.frames().map((f) => f.locator('body').innerText().catch(() => '')))).join('\n');
      await waitFor('the summary and current details in the UI', async () => {
        const text = await framesText();
        return text.includes(`alice@${tenant} · hello@1 · track intro · plan free`) && text.includes('running: waiting for completion') ? true : undefined;
      }, 60_000);
      await page.screenshot({ path: join(ARTIFACTS, 'temporal-ui-scenario.png'), fullPage: true });
      await page.screenshot({ path: join(ARTIFACTS, 'temporal-ui-scenario.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  });

  it('once completed and scored, the status attribute follows, and one correlation id runs through the API, workflow and activity logs', async () => {
    // The scenario host's controller gets the token from the API with its operator token.
    const operator = (await mintToken('operator', { sub: 'host-controller', role: 'operator' }, t.config.secrets.OPERATOR_HMAC_SECRET!, { ttlSeconds: 600 })).token;
    const issued = await call('POST', `/api/scenarios/${scenarioId}/completion-token`, operator);
    assert.equal(issued.status, 200, JSON.stringify(issued.json));
    const completionToken = issued.json!.token as string;
    assert.equal((await call('POST', `/api/scenarios/${scenarioId}/complete`, completionToken, { outcome: 'success', submission: { answer: 'hello' } })).status, 202);
    const scored = await waitFor('scored', async () => {
      const r = await call('GET', `/api/scenarios/${scenarioId}`, satToken);
      if (r.json?.status === 'failed') throw new Error(`scenario failed: ${String(r.json.reason)}`);
      return r.json?.status === 'scored' ? (r.json as unknown as ScenarioState) : undefined;
    }, 90_000);
    assert.equal(scored.score?.passed, true);
    await waitFor('the status attribute to say scored', async () =>
      ((await idsWhere(`ArbiterTenant = '${tenant}' AND ArbiterStatus = 'scored'`)).length === 1 ? true : undefined));
    const metadata = await client.workflow.getHandle(scenarioId).query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    assert.match(metadata.currentDetails ?? '', /^scored 2\/2 \(passed\), verdict signed by /);

    // The API: the spawn request's lines carry the id the caller sent.
    const apiLines = apiLog.lines.filter((l) => l.correlationId === correlationId);
    assert.ok(apiLines.some((l) => l.msg === 'spawn admitted' && l.scenarioId === scenarioId), JSON.stringify(apiLines));

    // The workers: every line about this scenario, from the workflow and from each activity. The
    // runtime logger sorts lines in a short buffer first, so the last ones may still be on the way.
    await waitFor('the scorer\'s log line', async () =>
      (workerLog.lines.some((l) => l.workflowId === scenarioId && l.activityType === 'concludeScenario' && l.msg === 'scored') ? true : undefined), 10_000);
    const ofScenario = workerLog.lines.filter((l) => l.workflowId === scenarioId);
    const fromWorkflow = ofScenario.filter((l) => l.sdkComponent === 'workflow');
    const fromActivities = ofScenario.filter((l) => l.sdkComponent === 'activity');
    assert.ok(fromWorkflow.some((l) => l.msg === 'scenario status' && l.status === 'running'), JSON.stringify(fromWorkflow));
    assert.ok(fromActivities.some((l) => l.activityType === 'launchContainer' && l.msg === 'scenario running'), JSON.stringify(fromActivities));
    // Evidence, teardown and the scorer run in one host activity.
    assert.ok(fromActivities.some((l) => l.activityType === 'concludeScenario' && l.msg === 'scored'), JSON.stringify(fromActivities));
    const without = ofScenario.filter((l) => l.correlationId !== correlationId);
    assert.deepEqual(without, [], 'every worker line of the scenario carries its correlation id');
  });

  it('the API and the worker export Prometheus metrics, the worker\'s with the Temporal SDK\'s own', async () => {
    const api = await (await fetch(`${base}/metrics`)).text();
    assert.match(api, /^arbiter_http_request_duration_seconds_count\{method="POST",route="\/api\/spawn",status="202"\} [1-9]/m);
    assert.match(api, /^arbiter_http_request_duration_seconds_count\{method="POST",route="\/api\/spawn",status="403"\} [1-9]/m);
    assert.match(api, /^arbiter_scenarios\{status="scored"\} [1-9]/m);
    assert.match(api, /^arbiter_scenarios\{status="denied"\} [1-9]/m);
    assert.match(api, /^# TYPE arbiter_quota_rejections_total counter/m);

    const res = await fetch(`${ops.url}/metrics`);
    assert.equal(res.status, 200);
    const worker = await res.text();
    assert.match(worker, /^arbiter_launch_duration_seconds_count [1-9]/m);
    assert.match(worker, /^arbiter_policy_denies_total [1-9]/m);
    assert.match(worker, /^arbiter_activity_duration_seconds_count\{activity="concludeScenario",outcome="completed"\} [1-9]/m);
    assert.match(worker, /^temporal_\w+/m, 'the SDK\'s metrics follow');
    assert.doesNotMatch(worker, /Temporal SDK metrics unavailable/);
  });

  it('the worker answers /healthz, and /readyz with the API\'s checks and its own state', async () => {
    assert.deepEqual(await (await fetch(`${ops.url}/healthz`)).json(), { status: 'ok' });
    const ready = await fetch(`${ops.url}/readyz`);
    const body = await ready.json() as { status: string; checks: Record<string, string> };
    assert.equal(ready.status, 200, JSON.stringify(body));
    assert.deepEqual(Object.keys(body.checks).sort(), ['policy', 'searchAttributes', 'signingKey', 'storage', 'temporal', 'worker']);
    assert.match(body.checks.policy!, /^ok sha256:[0-9a-f]{64}$/);
    const api = await call('GET', '/readyz');
    assert.equal(api.status, 200, JSON.stringify(api.json));
    assert.equal((api.json!.checks as Record<string, string>).searchAttributes, 'ok');
  });
});
