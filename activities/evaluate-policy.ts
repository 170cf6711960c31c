// The evaluatePolicy activity: asks the spawn policy about the container that is about to be
// launched. The isolation part of the question is read off scenarioSpec, the very builder
// the launch uses, so the policy judges the options Docker will receive.
import type { PolicyDecision, PolicyInput } from '../lib/policy-types.ts';
import { podMembers } from './container-spec.ts';
import { runtimeOf } from '../infra/template.ts';
import type { Entitlement } from './check-entitlements.ts';
import { isolationOf } from './isolation-settings.ts';
import type { PolicyEngine } from '../infra/policy/decision.ts';

export interface PolicyRequest {
  scenarioId: string;
  subject: string;
  tenant: string;
  track: string;
  /** the authoritative plan, template, template digest and effective limits */
  entitlement: Pick<Entitlement, 'plan' | 'template' | 'templateDigest' | 'limits'>;
}

export function policyInputFor(req: PolicyRequest): PolicyInput {
  const { template, limits } = req.entitlement;
  // The environment is added at launch; it changes no setting the policy judges. The runtime is
  // the template's, so the policy judges the one the launch applies.
  const members = podMembers({ scenarioId: req.scenarioId, tenant: req.tenant, template, limits, env: [] });
  const spec = members.find((m) => m.main)!.spec;
  // Templates declare no network today, and scenarios never get one; a template that did
  // declare one is passed on as declared, so the policy refuses it instead of it being
  // silently run without.
  const declared = (template as { network?: unknown }).network;
  return {
    subject: req.subject,
    tenant: req.tenant,
    plan: req.entitlement.plan,
    track: req.track,
    template: {
      id: template.id,
      version: template.version,
      digest: req.entitlement.templateDigest,
      tracks: [...template.tracks],
      // What this spawn asks of the engine: the template's limits as checkEntitlements
      // capped them by the plan. Judging the capped values (not the template's raw wishes)
      // keeps a template that asks for a longer TTL than the plan grants runnable with the
      // plan's TTL, as before; the policy re-checks the cap independently of that code.
      limits: { memoryMb: limits.memoryMb, cpus: limits.cpus, pids: limits.pids, ttlSeconds: limits.ttlSeconds },
      network: declared === undefined ? 'none' : (declared as string),
      runtime: runtimeOf(template),
    },
    isolation: isolationOf(spec),
    services: members.map((m) => ({ name: m.name, role: m.role, main: m.main, required: m.required, containerName: m.containerName, isolation: isolationOf(m.spec) })),
  };
}

export function createPolicyActivities(deps: { policy: PolicyEngine }) {
  return {
    /** The decision, with the input it answered so history and evidence show both. */
    async evaluatePolicy(req: PolicyRequest): Promise<PolicyDecision> {
      const input = policyInputFor(req);
      const decision = await deps.policy.evaluate(input);
      return { ...decision, input };
    },
  };
}
