// The authoritative entitlement for a scenario: the SAT says what the client was told, but the
// plan's limits and the template are re-read here, from the plans file and the template store.
import { ApplicationFailure } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Plans } from '../infra/plans.ts';
import { loadTemplate, UnknownTemplateError, type Template } from '../infra/template.ts';
import { pinTemplate, TemplateModifiedError } from '../infra/template-publication.ts';
import { readMemo } from '../infra/read-model.ts';
import { tenantWorkflowId } from '../lib/entity-ids.ts';
import { entitlementQuery, type EntitlementSource, type TenantEntitlementMemo } from '../contract/tenant.ts';
import { FailureTypes } from '../contract/failures.ts';
import { MEMO } from '../contract/queues.ts';
import type { ScenarioInput } from '../contract/scenario.ts';
import type { EffectiveLimits } from './container-spec.ts';

export interface Entitlement {
  plan: string;
  /** where the plan came from now: the tenant's recorded grant, or the SAT when none is recorded */
  source: EntitlementSource | 'sat';
  /** the plan the SAT claimed, kept to show a downgrade in the evidence */
  claimedPlan: string;
  limits: EffectiveLimits;
  retentionDays: number;
  template: Template;
  /** sha256 of the template version folder's manifest: pins exactly what was run */
  templateDigest: string;
  /** recorded in templates/published.json (a published version that changed never gets this far) */
  templatePublished: boolean;
}

export { templateDigest } from '../infra/template-publication.ts';

export function createEntitlementActivities(deps: { plans: Plans; templatesDir: string; temporal: Client }) {
  /** The tenant's plan as recorded now; the SAT's claim only when the tenant has no record. */
  async function currentPlan(input: ScenarioInput): Promise<{ plan: string; source: Entitlement['source'] }> {
    // What the API read for this spawn, from the same memo, and took the lease under.
    if (input.tenantPlanAtSpawn !== undefined) {
      return input.tenantPlanAtSpawn ? { plan: input.tenantPlanAtSpawn.plan, source: input.tenantPlanAtSpawn.source } : { plan: input.plan, source: 'sat' };
    }
    const workflowId = tenantWorkflowId(input.tenant);
    try {
      // From the tenant entity's memo, answered by the server: this runs as a local activity
      // inside a scenario's workflow task, and a query would need another workflow task on this
      // same worker, which a worker full of admissions might never have free. Only a tenant
      // entity from before it kept its memo is asked by query.
      const read = await readMemo<TenantEntitlementMemo>(deps.temporal, workflowId, MEMO.tenantEntitlement);
      const resolved = read.value?.resolved ?? await deps.temporal.workflow.getHandle(workflowId).query(entitlementQuery);
      return { plan: resolved.plan, source: resolved.source };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return { plan: input.plan, source: 'sat' };
      throw err;
    }
  }

  async function checkEntitlements(input: ScenarioInput): Promise<Entitlement> {
    const { plan: planId, source } = await currentPlan(input);
    const plan = deps.plans[planId];
    if (!plan) throw ApplicationFailure.nonRetryable(`unknown plan "${planId}"`, FailureTypes.unknownPlan);
    let template: Template;
    let pin: ReturnType<typeof pinTemplate>;
    try {
      template = loadTemplate(input.template, deps.templatesDir);
      pin = pinTemplate(input.template, deps.templatesDir);
    } catch (err) {
      if (err instanceof UnknownTemplateError) {
        throw ApplicationFailure.nonRetryable(`unknown template ${err.message}`, FailureTypes.unknownTemplate);
      }
      if (err instanceof TemplateModifiedError) throw ApplicationFailure.nonRetryable(err.message, FailureTypes.templateModified);
      throw err;
    }
    // A template may ask for less than the plan allows, never more.
    const limits: EffectiveLimits = {
      memoryMb: Math.min(plan.limits.memoryMb, template.limits.memoryMb),
      cpus: Math.min(plan.limits.cpus, template.limits.cpus),
      pids: Math.min(plan.limits.pids, template.limits.pids),
      ttlSeconds: Math.min(plan.limits.ttlSeconds, template.limits.ttlSeconds),
      tmpfsMb: template.limits.tmpfsMb,
    };
    return {
      plan: planId,
      source,
      claimedPlan: input.plan,
      limits,
      retentionDays: plan.retentionDays,
      template,
      templateDigest: pin.digest,
      templatePublished: pin.published,
    };
  }
  return { checkEntitlements };
}
