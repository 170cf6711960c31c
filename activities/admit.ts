// Steps 1-3 as one local activity: entitlements, policy, host. Each was a local activity of its
// own; one costs one marker in history and one round trip between the workflow and the worker's
// core instead of three (bench/history.ts counts the events of a scenario).
import { ApplicationFailure } from '@temporalio/activity';
import type { PolicyDecision } from '../lib/policy-types.ts';
import type { ScenarioInput } from '../contract/scenario.ts';
import { FailureTypes } from '../contract/failures.ts';
import type { Entitlement } from './check-entitlements.ts';
import type { PolicyRequest } from './evaluate-policy.ts';

/** Refused before the policy was asked (an unknown plan or template, a published template that changed). */
export interface AdmissionRefused { refused: string }
/** The decision, and the host to launch on when it allows. */
export interface AdmissionDecided {
  entitlement: Entitlement;
  decision: PolicyDecision;
  host?: { hostId: string; taskQueue: string };
}
export type AdmissionOutcome = AdmissionRefused | AdmissionDecided;

/** The failure types that mean "no", not "try again". */
const REFUSALS: ReadonlySet<string> = new Set([FailureTypes.unknownPlan, FailureTypes.unknownTemplate, FailureTypes.templateModified]);

export function createAdmitActivities(steps: {
  checkEntitlements(input: ScenarioInput): Promise<Entitlement>;
  evaluatePolicy(req: PolicyRequest): Promise<PolicyDecision>;
  pickHost(scenarioId: string): Promise<{ hostId: string; taskQueue: string }>;
}) {
  return {
    async admit(input: ScenarioInput): Promise<AdmissionOutcome> {
      let entitlement: Entitlement;
      try {
        entitlement = await steps.checkEntitlements(input);
      } catch (err) {
        if (err instanceof ApplicationFailure && err.type && REFUSALS.has(err.type)) return { refused: err.message };
        throw err;
      }
      const decision = await steps.evaluatePolicy({ scenarioId: input.scenarioId, subject: input.subject, tenant: input.tenant, track: input.track, entitlement });
      if (!decision.allow) return { entitlement, decision };
      return { entitlement, decision, host: await steps.pickHost(input.scenarioId) };
    },
  };
}
