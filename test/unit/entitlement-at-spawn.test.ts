// Admission takes the tenant's plan the API read for the spawn (and took the lease under) instead
// of reading the tenant entity again; inputs without that read still go to the tenant entity.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { createEntitlementActivities } from '../../activities/check-entitlements.ts';
import { loadPlans } from '../../infra/plans.ts';
import type { ScenarioInput } from '../../contract/scenario.ts';
import { REPO } from '../support/harness.ts';

/** A client whose every read of a workflow is counted and finds none. */
function countingClient(): { client: Client; reads: string[] } {
  const reads: string[] = [];
  const client = {
    workflow: {
      getHandle: (id: string) => ({
        describe: () => { reads.push(id); return Promise.reject(new WorkflowNotFoundError('not found', id, undefined)); },
        query: () => { reads.push(id); return Promise.reject(new WorkflowNotFoundError('not found', id, undefined)); },
      }),
    },
  } as unknown as Client;
  return { client, reads };
}

const input = (extra: Partial<ScenarioInput>): ScenarioInput => ({
  scenarioId: 'scn-entitlement-at-spawn', correlationId: 'c-1', subject: 'wile', tenant: 'globex', plan: 'pro',
  template: { id: 'hello', version: '1' }, track: 'web', retentionDays: 30, createdAt: new Date(0).toISOString(), ...extra,
});

describe('the tenant plan read at spawn', () => {
  const plans = loadPlans();
  const templatesDir = join(REPO, 'templates');

  it('is what admission resolves, without reading the tenant entity again', async () => {
    const { client, reads } = countingClient();
    const { checkEntitlements } = createEntitlementActivities({ plans, templatesDir, temporal: client });
    const got = await checkEntitlements(input({ tenantPlanAtSpawn: { plan: 'free', source: 'receipt' } }));
    assert.deepEqual({ plan: got.plan, source: got.source, claimedPlan: got.claimedPlan }, { plan: 'free', source: 'receipt', claimedPlan: 'pro' });
    assert.equal(got.limits.ttlSeconds, Math.min(plans.free!.limits.ttlSeconds, got.template.limits.ttlSeconds), 'the limits are the read plan\'s');
    assert.deepEqual(reads, []);
  });

  it('as "no record" leaves the SAT\'s claim standing', async () => {
    const { client, reads } = countingClient();
    const { checkEntitlements } = createEntitlementActivities({ plans, templatesDir, temporal: client });
    const got = await checkEntitlements(input({ tenantPlanAtSpawn: null }));
    assert.deepEqual({ plan: got.plan, source: got.source }, { plan: 'pro', source: 'sat' });
    assert.deepEqual(reads, []);
  });

  it('when absent (another starter, an input from before it), is read from the tenant entity', async () => {
    const { client, reads } = countingClient();
    const { checkEntitlements } = createEntitlementActivities({ plans, templatesDir, temporal: client });
    const got = await checkEntitlements(input({}));
    assert.deepEqual({ plan: got.plan, source: got.source }, { plan: 'pro', source: 'sat' });
    assert.deepEqual(reads, ['tenant-globex']);
  });
});
