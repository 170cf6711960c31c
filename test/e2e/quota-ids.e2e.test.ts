// Quota entities on the real stack (dev server, workers, Docker, OPA, API over loopback): two
// tenants whose names ran together under the old quota id each get their own limit, and leases
// taken under the old id before the change still count and are still released.
import { openArtifactStore } from '../../infra/artifact-store.ts';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { WithStartWorkflowOperation, WorkflowNotFoundError } from '@temporalio/client';
import { ScenarioService } from '../../api/services/scenarios.ts';
import { legacyQuotaWorkflowId, quotaWorkflowId } from '../../lib/entity-ids.ts';
import { acquireLeaseUpdate, quotaQuery } from '../../contract/quota.ts';
import { MAIN_TASK_QUEUE, QUOTA_WORKFLOW_TYPE } from '../../contract/queues.ts';
import { scenarioIdFromJti } from '../../contract/scenario.ts';
import type { quotaWorkflow } from '../../workflows/quota.ts';
import { containersOf, waitFor } from '../support/harness.ts';
import { startStack, type Response, type Stack } from '../support/stack.ts';

const FREE_CONCURRENT = 2;

describe('quota entities per (tenant, subject)', () => {
  let stack: Stack;
  /** scenarios started past the API (as the old API did): the stack only cleans up its own */
  const startedDirectly: string[] = [];
  before(async () => { stack = await startStack(); });
  after(async () => {
    for (const id of startedDirectly) {
      await stack?.env.client.workflow.getHandle(id).cancel().catch(() => undefined);
      await waitFor(`containers of ${id} removed`, async () => ((await containersOf(id)).length === 0 ? true : undefined));
    }
    await stack?.stop();
  });

  const leasesOf = async (workflowId: string) => Object.keys((await stack.env.client.workflow.getHandle(workflowId).query(quotaQuery)).leases).sort();
  const spawnAs = async (tenant: string, subject: string): Promise<Response> =>
    stack.call('POST', '/api/spawn', await stack.sat(await stack.et(subject, tenant, 'free')), {});
  const codeOf = (r: Response) => (r.json?.error as { code?: string } | undefined)?.code;

  it('when tenant qx / subject corp-eve uses its whole concurrency, tenant qx-corp / subject eve can still spawn, into its own quota entity', async () => {
    const first = [];
    for (let i = 0; i < FREE_CONCURRENT; i++) first.push(await spawnAs('qx', 'corp-eve'));
    assert.deepEqual(first.map((r) => r.status), [202, 202], JSON.stringify(first.map((r) => r.json)));
    const over = await spawnAs('qx', 'corp-eve');
    assert.equal(over.status, 429);
    assert.equal(codeOf(over), 'quota_exceeded');

    const other = await spawnAs('qx-corp', 'eve');
    assert.equal(other.status, 202, JSON.stringify(other.json));

    const eveOfQx = quotaWorkflowId('qx', 'corp-eve');
    const eveOfQxCorp = quotaWorkflowId('qx-corp', 'eve');
    assert.notEqual(eveOfQx, eveOfQxCorp);
    assert.deepEqual(await leasesOf(eveOfQx), first.map((r) => r.json!.scenarioId as string).sort());
    assert.deepEqual(await leasesOf(eveOfQxCorp), [other.json!.scenarioId as string]);
    // Nothing was started under the id the two pairs used to share.
    await assert.rejects(stack.env.client.workflow.getHandle(legacyQuotaWorkflowId('qx', 'corp-eve')!).describe(), WorkflowNotFoundError);
  });

  it('a lease taken under the old quota id still counts for its own subject only, and is released to the old entity when its scenario ends', async () => {
    // Before the change: the old API took the lease in the entity named by the old id and started
    // the scenario with that id in its input. (acme, old-mover) and (acme-old, mover) share it.
    const legacyId = legacyQuotaWorkflowId('acme', 'old-mover')!;
    assert.equal(legacyId, legacyQuotaWorkflowId('acme-old', 'mover'));
    const oldScenario = scenarioIdFromJti(randomUUID());
    startedDirectly.push(oldScenario);
    await stack.env.client.workflow.executeUpdateWithStart(acquireLeaseUpdate, {
      args: [{ scenarioId: oldScenario, maxConcurrent: FREE_CONCURRENT, spawnsPerMinute: 10 }],
      startWorkflowOperation: new WithStartWorkflowOperation<typeof quotaWorkflow>(QUOTA_WORKFLOW_TYPE, {
        workflowId: legacyId, taskQueue: MAIN_TASK_QUEUE, args: [{ reapIntervalSeconds: 60, startGraceSeconds: 120 }], workflowIdConflictPolicy: 'USE_EXISTING',
      }),
    });
    const admission = await new ScenarioService(stack.env.client, openArtifactStore(stack.t.config)).spawn({
      scenarioId: oldScenario, correlationId: randomUUID(), subject: 'old-mover', tenant: 'acme', plan: 'free',
      template: { id: 'hello', version: '1' }, track: 'intro', retentionDays: 7, createdAt: new Date().toISOString(), quotaWorkflowId: legacyId,
    });
    assert.notEqual(admission.status, 'denied', JSON.stringify(admission));

    // After the change: the old lease and a new one make the plan's two.
    const fresh = await spawnAs('acme', 'old-mover');
    assert.equal(fresh.status, 202, JSON.stringify(fresh.json));
    const over = await spawnAs('acme', 'old-mover');
    assert.equal(over.status, 429, JSON.stringify(over.json));
    assert.equal(codeOf(over), 'quota_exceeded');
    // The pair that shared the old entity is not held back by a lease that is not its own.
    const neighbour = [await spawnAs('acme-old', 'mover'), await spawnAs('acme-old', 'mover')];
    assert.deepEqual(neighbour.map((r) => r.status), [202, 202], JSON.stringify(neighbour.map((r) => r.json)));

    // The scenario started before the change releases its lease where it took it.
    const op = await stack.operator();
    assert.equal((await stack.call('POST', `/api/scenarios/${oldScenario}/cancel`, op)).status, 202);
    await waitFor('the old lease released in the old entity', async () => ((await leasesOf(legacyId)).length === 0 ? true : undefined));

    const again = await spawnAs('acme', 'old-mover');
    assert.equal(again.status, 202, JSON.stringify(again.json));
    assert.deepEqual(await leasesOf(quotaWorkflowId('acme', 'old-mover')), [fresh.json!.scenarioId as string, again.json!.scenarioId as string].sort());
    // An old entity with no lease left is ended: later spawns no longer ask it.
    assert.equal((await stack.env.client.workflow.getHandle(legacyId).describe()).status.name, 'TERMINATED');
  });
});
