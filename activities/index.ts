// Activity factories. Dependencies (Docker, policy, signer, storage) are injected so the same
// code runs in the workers and in tests against the real engines. Two sets: the main set runs on
// the shared queue; the host set runs on the queue of the Docker host that owns the container.
import type Docker from 'dockerode';
import { ApplicationFailure } from '@temporalio/activity';
import type { SecretRing } from '../lib/config.ts';
import type { Signer } from '../lib/keys.ts';
import type { Plans } from '../lib/plans.ts';
import type { PolicyDecision, PolicyInput } from '../lib/policy-types.ts';
import { hostTaskQueue } from '../workflows/shared.ts';
import { createContainerActivities } from './containers.ts';
import { createEntitlementActivities } from './entitlements.ts';
import { createEvidenceActivities } from './evidence.ts';
import type { PolicyEngine } from './policy.ts';
import { createScoringActivities } from './scoring.ts';
import { createVerdictActivities } from './verdicts.ts';
import { createHash } from 'node:crypto';

export type { Entitlement } from './entitlements.ts';
export type { LaunchedContainer } from './containers.ts';

export interface MainDeps {
  plans: Plans;
  templatesDir: string;
  policy: PolicyEngine;
  signer: Signer;
  storageDir: string;
  hostIds: string[];
}

export function createMainActivities(deps: MainDeps) {
  if (deps.hostIds.length === 0) throw new Error('at least one container host id is required');
  return {
    ...createEntitlementActivities(deps),
    ...createVerdictActivities(deps),
    async evaluatePolicy(input: PolicyInput): Promise<PolicyDecision> {
      return deps.policy.evaluate(input);
    },
    /** Spreads scenarios over the hosts by a stable hash, so a retry picks the same host. */
    async pickHost(scenarioId: string): Promise<{ hostId: string; taskQueue: string }> {
      const n = createHash('sha256').update(scenarioId).digest().readUInt32BE(0) % deps.hostIds.length;
      const hostId = deps.hostIds[n];
      if (!hostId) throw ApplicationFailure.nonRetryable('no container host configured');
      return { hostId, taskQueue: hostTaskQueue(hostId) };
    },
  };
}

export interface HostDeps {
  docker: Docker;
  storageDir: string;
  completionSecret: SecretRing;
  runtime?: string | undefined;
}

export function createHostActivities(deps: HostDeps) {
  return {
    ...createContainerActivities(deps),
    ...createEvidenceActivities(deps),
    ...createScoringActivities(deps),
  };
}

export type MainActivities = ReturnType<typeof createMainActivities>;
export type HostActivities = ReturnType<typeof createHostActivities>;
