// The authoritative entitlement for a scenario: the SAT says what the client was told, but the
// plan's limits and the template are re-read here, from the plans file and the template store.
import { ApplicationFailure } from '@temporalio/activity';
import type { Plans } from '../lib/plans.ts';
import { loadTemplate, templateDir, UnknownTemplateError, type Template } from '../lib/template.ts';
import { buildManifest, manifestBytes } from '../lib/evidence-manifest.ts';
import { sha256Hex } from '../lib/canonical-json.ts';
import { FailureTypes, type ScenarioInput } from '../workflows/shared.ts';
import type { EffectiveLimits } from './container-spec.ts';

export interface Entitlement {
  plan: string;
  source: 'sat';
  limits: EffectiveLimits;
  retentionDays: number;
  template: Template;
  /** sha256 of the template version folder's manifest: pins exactly what was run */
  templateDigest: string;
}

export function templateDigest(dir: string): string {
  return sha256Hex(manifestBytes(buildManifest(dir)));
}

export function createEntitlementActivities(deps: { plans: Plans; templatesDir: string }) {
  async function checkEntitlements(input: ScenarioInput): Promise<Entitlement> {
    const plan = deps.plans[input.plan];
    if (!plan) throw ApplicationFailure.nonRetryable(`unknown plan "${input.plan}"`, FailureTypes.unknownPlan);
    let template: Template;
    try {
      template = loadTemplate(input.template, deps.templatesDir);
    } catch (err) {
      if (err instanceof UnknownTemplateError) {
        throw ApplicationFailure.nonRetryable(`unknown template ${err.message}`, FailureTypes.unknownTemplate);
      }
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
      plan: input.plan,
      source: 'sat',
      limits,
      retentionDays: plan.retentionDays,
      template,
      templateDigest: templateDigest(templateDir(input.template, deps.templatesDir)),
    };
  }
  return { checkEntitlements };
}
