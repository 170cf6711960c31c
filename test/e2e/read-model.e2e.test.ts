// Reads are answered by the Temporal server from the memos the workflows keep (contract/queues.ts
// MEMO), not by a worker: with the main worker gone, a scenario still reads in full, and an ET
// whose grant is already recorded, or older than the one recorded, still mints SATs.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../support/harness.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { tenantWorkflowId } from '../../lib/entity-ids.ts';
import { mintToken } from '../../infra/tokens.ts';

describe('reads without a worker', () => {
  let stack: Stack;
  before(async () => { stack = await startStack(); });
  after(async () => { await stack?.stop(); });

  it('with the main worker stopped, a scored scenario reads in full, and a recorded ET and an older one of the same tenant still mint SATs', async () => {
    const etSecret = stack.t.config.secrets.ET_HMAC_SECRET!;
    // Issued a minute ago: another subject's ET of the tenant, issued after it, is the newer grant.
    const et = (await mintToken('et', { sub: 'reader', tenant: 'read-tenant', plan: 'free' }, etSecret, { ttlSeconds: 600, now: new Date(Date.now() - 60_000) })).token;
    const sat = await stack.sat(et);
    const spawned = await stack.call('POST', '/api/spawn', sat, {});
    assert.equal(spawned.status, 202, JSON.stringify(spawned.json));
    const id = spawned.json!.scenarioId as string;
    await waitFor('running', async () => ((await stack.call('GET', `/api/scenarios/${id}`, sat)).json?.status === 'running' ? true : undefined));
    const token = await stack.completionToken(id);
    assert.equal((await stack.call('POST', `/api/scenarios/${id}/complete`, token, { outcome: 'success', submission: { answer: 'hello' } })).status, 202);
    const scored = await waitFor('scored', async () => {
      const r = await stack.call('GET', `/api/scenarios/${id}`, sat);
      return r.json?.status === 'scored' ? r.json : undefined;
    }, 90_000);
    // The second SAT of the same ET is minted without writing its grant into the tenant's history again.
    const tenantEvents = async () => ((await stack.env.client.workflow.getHandle(tenantWorkflowId('read-tenant')).fetchHistory()).events ?? []).length;
    const before = await tenantEvents();
    const second = await stack.call('POST', '/api/sat', et, { template: 'hello', track: 'intro' });
    assert.equal(second.status, 201, JSON.stringify(second.json));
    assert.equal(await tenantEvents(), before, 'no new event in the tenant entity for an ET already recorded');
    // Another subject's newer ET of the tenant is recorded, and the tenant's plan is now its plan.
    const newer = await stack.et('writer', 'read-tenant', 'pro');
    const recorded = await stack.call('POST', '/api/sat', newer, { template: 'hello', track: 'intro' });
    assert.equal(recorded.status, 201, JSON.stringify(recorded.json));
    assert.equal(recorded.json!.plan, 'pro');

    await stack.stopMainWorker();

    const read = await stack.call('GET', `/api/scenarios/${id}`, sat);
    assert.equal(read.status, 200, JSON.stringify(read.json));
    assert.deepEqual(read.json, scored, 'the same full state as while the worker ran');
    // The older ET is not offered to the tenant entity (it would refuse it, and no worker is there to
    // ask): its SAT carries the tenant's plan, the newer ET's.
    const third = await stack.call('POST', '/api/sat', et, { template: 'hello', track: 'intro' });
    assert.equal(third.status, 201, JSON.stringify(third.json));
    assert.equal(third.json!.plan, 'pro');
    const fourth = await stack.call('POST', '/api/sat', newer, { template: 'hello', track: 'intro' });
    assert.equal(fourth.status, 201, JSON.stringify(fourth.json));
    assert.equal(fourth.json!.plan, 'pro');
    // A grant that must be recorded waits for a worker a bounded time, then is refused as retryable.
    const unrecorded = await stack.call('POST', '/api/sat', await stack.et('newcomer', 'read-tenant', 'pro'), { template: 'hello', track: 'intro' });
    assert.equal(unrecorded.status, 503, JSON.stringify(unrecorded.json));
    assert.equal((unrecorded.json!.error as { code: string }).code, 'entitlements_unavailable');
  });
});
