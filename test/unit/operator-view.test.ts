// The pieces behind the operator's view that need no server: what the Temporal UI shows of a
// scenario, readiness verdicts, the worker's ops configuration, and log correlation.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { ConfigError } from '../../lib/errors.ts';
import { loadConfig, workerOps } from '../../infra/config.ts';
import { correlationMixin, runWithCorrelation } from '../../infra/correlation.ts';
import { runReadiness } from '../../infra/readiness.ts';
import { startOpsServer } from '../../workers/ops-server.ts';
import { sdkMetricsUrl } from '../../workers/telemetry.ts';
import { activitySummary } from '../../workflows/interceptors.ts';
import { currentDetails, initialSearchAttributes, staticSummary } from '../../lib/operator-view.ts';
import { SEARCH_ATTRIBUTES, SearchAttributeKeys } from '../../contract/queues.ts';
import type { ScenarioInput, ScenarioState } from '../../contract/scenario.ts';

const input: ScenarioInput = {
  scenarioId: 'scn-00000000-0000-0000-0000-000000000001',
  correlationId: 'c-1',
  subject: 'alice',
  tenant: 'acme',
  plan: 'free',
  template: { id: 'hello', version: '1' },
  track: 'intro',
  retentionDays: 7,
  createdAt: '2026-01-01T00:00:00.000Z',
};
const state = (over: Partial<ScenarioState>): ScenarioState => ({
  scenarioId: input.scenarioId, status: 'pending', tenant: 'acme', subject: 'alice', template: 'hello', templateVersion: '1',
  track: 'intro', plan: 'free', createdAt: input.createdAt, updatedAt: input.createdAt, ...over,
});

describe('what the Temporal UI shows of a scenario', () => {
  it('sets every registered search attribute at start, and only registered ones', () => {
    const names = initialSearchAttributes(input).map((p) => p.key.name).sort();
    assert.deepEqual(names, Object.keys(SEARCH_ATTRIBUTES).sort());
    for (const key of Object.values(SearchAttributeKeys)) assert.equal(key.type, 'KEYWORD', `${key.name} is registered as a Keyword`);
    assert.ok(initialSearchAttributes(input).some((p) => p.key.name === 'ArbiterTemplate' && p.value === 'hello@1'));
  });

  it('summarises who, which template and which plan on one line', () => {
    assert.equal(staticSummary(input), 'alice@acme · hello@1 · track intro · plan free');
  });

  it('describes each step in the current details', () => {
    assert.equal(currentDetails(state({ status: 'pending' })), 'pending: checking entitlements and policy');
    assert.equal(currentDetails(state({ status: 'running', ttlSeconds: 1800, containerName: 'arbiter-x', hostId: 'h1' })),
      'running: waiting for completion, TTL 30 min, container arbiter-x on host h1');
    assert.equal(currentDetails(state({ status: 'running', ttlSeconds: 7200 })), 'running: waiting for completion, TTL 2 h');
    assert.equal(currentDetails(state({ status: 'scored', score: { score: 1, maxScore: 2, passed: false }, verdictKeyId: 'k1' })),
      'scored 1/2 (not passed), verdict signed by k1');
    assert.equal(currentDetails(state({ status: 'denied', reason: 'track "web" is not in plan "free"' })), 'denied: track "web" is not in plan "free"');
  });

  it('gives each scenario activity a readable summary and falls back to the activity type', () => {
    assert.equal(activitySummary('launchContainer', [{ template: { id: 'hello', version: '1' } }]), 'start the hardened container for hello@1');
    assert.equal(activitySummary('teardownContainer', [{ containerName: 'arbiter-x' }]), 'stop and remove arbiter-x');
    assert.equal(activitySummary('somethingNew', []), 'somethingNew');
  });
});

describe('readiness', () => {
  it('is ready only when every check answers ok, and names each failing one with its reason', async () => {
    const report = await runReadiness({
      a: async () => true,
      b: async () => 'ok sha256:abc',
      c: async () => 'failing: no key',
      d: async () => { throw new Error('connection refused'); },
    });
    assert.equal(report.ready, false);
    assert.deepEqual(report.failing, ['c', 'd']);
    assert.deepEqual(report.checks, { a: 'ok', b: 'ok sha256:abc', c: 'failing: no key', d: 'failing: connection refused' });
    assert.equal((await runReadiness({ a: async () => true })).ready, true);
  });
});

describe('worker ops server', () => {
  it('answers readiness with 503 naming the failing check, and the contract error shape for other routes', async () => {
    const server = await startOpsServer({ host: '127.0.0.1', port: 0, checks: { temporal: async () => 'failing: down' }, log: pino({ level: 'silent' }) });
    try {
      const ready = await fetch(`${server.url}/readyz`);
      assert.equal(ready.status, 503);
      assert.deepEqual(await ready.json(), { status: 'not_ready', checks: { temporal: 'failing: down' }, failing: ['temporal'] });
      const missing = await fetch(`${server.url}/nope`);
      assert.equal(missing.status, 404);
      assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'not_found');
      assert.equal((await fetch(`${server.url}/metrics`, { method: 'POST' })).status, 405);
      assert.match(await (await fetch(`${server.url}/metrics`)).text(), /^# HELP arbiter_http_request_duration_seconds /m);
    } finally {
      await server.close();
    }
  });

  it('takes its ports from the environment, per worker kind by default, and refuses malformed ones', () => {
    assert.deepEqual(workerOps(loadConfig({}), { httpPort: 9092, sdkMetricsPort: 9192 }), { http: { host: '127.0.0.1', port: 9092 }, sdkMetricsAddress: '127.0.0.1:9192' });
    assert.deepEqual(workerOps(loadConfig({ WORKER_HTTP_PORT: 'off', TEMPORAL_METRICS_ADDRESS: 'off' }), { httpPort: 1, sdkMetricsPort: 2 }), { http: undefined, sdkMetricsAddress: undefined });
    assert.throws(() => loadConfig({ WORKER_HTTP_PORT: '99999' }), ConfigError);
    assert.throws(() => loadConfig({ TEMPORAL_METRICS_ADDRESS: 'localhost' }), ConfigError);
    assert.equal(sdkMetricsUrl('0.0.0.0:9191'), 'http://127.0.0.1:9191/metrics');
  });
});

describe('log correlation', () => {
  it('puts the correlation id of the async context on every line logged inside it, and nothing outside', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ mixin: correlationMixin }, { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } });
    await runWithCorrelation({ correlationId: 'c-42', scenarioId: 'scn-x' }, async () => {
      await new Promise((r) => setImmediate(r));
      log.info('inside');
    });
    log.info('outside');
    assert.equal(lines[0]!.correlationId, 'c-42');
    assert.equal(lines[0]!.scenarioId, 'scn-x');
    assert.equal(lines[1]!.correlationId, undefined);
  });
});
