// The main worker keeps a bounded number of workflows in memory (ARBITER_WORKFLOW_CACHE_SIZE).
// With a cache of two and more scenarios than that waiting at once, each one is evicted while
// it waits and replayed from its history when its completion arrives: every scenario still ends
// scored, once, with a verdict that verifies.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { verifyResults } from '../../infra/results.ts';
import { publicJwks } from '../../infra/keys.ts';
import { containersOf, waitFor } from '../support/harness.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { storedResults } from '../support/stored-results.ts';

const CACHE = 2;
const SCENARIOS = 4;

describe('a bounded workflow cache', () => {
  let stack: Stack;
  before(async () => { stack = await startStack({ env: { ARBITER_WORKFLOW_CACHE_SIZE: String(CACHE) } }); });
  after(async () => { await stack?.stop(); });

  it(`with a cache of ${CACHE} and ${SCENARIOS} scenarios waiting, each is evicted, woken by its completion, and scored once`, async () => {
    // One subject each (the free plan runs one at a time): with its quota entity and the tenant's,
    // far more workflows are open than the cache holds.
    const spawned = await Promise.all(Array.from({ length: SCENARIOS }, async (_, i) => {
      const sat = await stack.sat(await stack.et(`cache-${i}`, 'cache-tenant'));
      const r = await stack.call('POST', '/api/spawn', sat, {});
      assert.equal(r.status, 202, JSON.stringify(r.json));
      return { id: r.json!.scenarioId as string, sat };
    }));
    const status = async (s: { id: string; sat: string }) => (await stack.call('GET', `/api/scenarios/${s.id}`, s.sat)).json;
    for (const s of spawned) {
      await waitFor(`${s.id} running`, async () => ((await status(s))?.status === 'running' ? true : undefined), 90_000);
    }
    assert.ok(stack.mainWorker.getStatus().numCachedWorkflows <= CACHE, `at most ${CACHE} workflows in memory (${stack.mainWorker.getStatus().numCachedWorkflows})`);

    for (const s of spawned) {
      const token = await stack.completionToken(s.id);
      const done = await stack.call('POST', `/api/scenarios/${s.id}/complete`, token, { outcome: 'success', submission: { answer: 'hello' } });
      assert.equal(done.status, 202, JSON.stringify(done.json));
    }
    const jwks = await publicJwks(stack.t.config.keysDir);
    for (const s of spawned) {
      const final = await waitFor(`${s.id} scored`, async () => {
        const r = await status(s);
        if (r?.status === 'failed') throw new Error(`${s.id} failed: ${String(r.reason)}`);
        return r?.status === 'scored' ? r : undefined;
      }, 120_000);
      assert.deepEqual(final.score, { score: 2, maxScore: 2, passed: true });
      const history = (await stack.env.client.workflow.getHandle(s.id).fetchHistory()).events ?? [];
      // Two local activities: admission and the seal (signing); evidence, teardown and scoring in one host activity.
      assert.equal(history.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity').length, 2, `${s.id}: admitted once, sealed once`);
      assert.equal(history.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'concludeScenario').length, 1, `${s.id}: scored once`);
      const stored = await storedResults(stack.t.config, s.id);
      const check = await verifyResults(stored.dir, jwks);
      stored.cleanup();
      assert.ok(check.ok, JSON.stringify(check));
      assert.deepEqual(await containersOf(s.id), [], `${s.id}: no container left`);
    }
    assert.ok(stack.mainWorker.getStatus().numCachedWorkflows <= CACHE);
  });
});
