// Reads are answered by the Temporal server from the memos the workflows keep (contract/queues.ts
// MEMO), not by a worker: with the main worker gone, a scenario still reads in full, and an ET
// whose grant is already recorded still mints SATs. A spawn, which needs a worker, is refused.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../support/harness.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { tenantWorkflowId } from '../../lib/entity-ids.ts';

describe('reads without a worker', () => {
  let stack: Stack;
  before(async () => { stack = await startStack(); });
  after(async () => { await stack?.stop(); });

  it('with the main worker stopped, a scored scenario reads in full and a recorded ET still mints SATs', async () => {
    const et = await stack.et('reader', 'read-tenant');
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

    await stack.stopMainWorker();

    const read = await stack.call('GET', `/api/scenarios/${id}`, sat);
    assert.equal(read.status, 200, JSON.stringify(read.json));
    assert.deepEqual(read.json, scored, 'the same full state as while the worker ran');
    const third = await stack.call('POST', '/api/sat', et, { template: 'hello', track: 'intro' });
    assert.equal(third.status, 201, JSON.stringify(third.json));
    assert.equal(third.json!.plan, 'free');
  });
});
