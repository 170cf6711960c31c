// Activity factories. Dependencies (Docker, policy, signer, storage) are injected so the same
// code runs in the workers and in tests against the real engines. Two sets: the main set runs on
// the shared queue; the host set runs on the queue of the Docker host that owns the container.
import type Docker from 'dockerode';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/activity';
import type { Signer } from '../infra/keys.ts';
import type { Plans } from '../infra/plans.ts';
import { hostTaskQueue } from '../contract/queues.ts';
import { createContainerActivities } from './containers.ts';
import { createEntitlementActivities } from './entitlements.ts';
import { createLeaseActivities } from './leases.ts';
import { createEvidenceActivities } from './evidence.ts';
import type { PolicyEngine } from './policy.ts';
import { createPolicyActivities } from './policy-gate.ts';
import { createRetentionActivities } from './retention.ts';
import { createScoringActivities } from './scoring.ts';
import { createVerdictActivities } from './verdicts.ts';
import { createHash } from 'node:crypto';
import { createReconcileActivities } from './reconcile.ts';
import { keepHeartbeating } from './heartbeat.ts';

export type { Entitlement } from './entitlements.ts';
export type { LaunchedContainer } from './containers.ts';

export interface MainDeps {
  plans: Plans;
  templatesDir: string;
  policy: PolicyEngine;
  signer: Signer;
  storageDir: string;
  hostIds: string[];
  temporal: Client;
}

export function createMainActivities(deps: MainDeps) {
  if (deps.hostIds.length === 0) throw new Error('at least one container host id is required');
  return {
    ...createEntitlementActivities(deps),
    ...createLeaseActivities(deps),
    ...createVerdictActivities(deps),
    ...createRetentionActivities(deps),
    ...createPolicyActivities(deps),
    /** Spreads scenarios over the hosts by a stable hash, so a retry picks the same host. */
    async pickHost(scenarioId: string): Promise<{ hostId: string; taskQueue: string }> {
      const n = createHash('sha256').update(scenarioId).digest().readUInt32BE(0) % deps.hostIds.length;
      const hostId = deps.hostIds[n];
      if (!hostId) throw ApplicationFailure.nonRetryable('no container host configured');
      return { hostId, taskQueue: hostTaskQueue(hostId) };
    },
    /** Every container host, for work that visits each of them (the reconciler). */
    async listHosts(): Promise<Array<{ hostId: string; taskQueue: string }>> {
      return deps.hostIds.map((hostId) => ({ hostId, taskQueue: hostTaskQueue(hostId) }));
    },
  };
}

export interface HostDeps {
  docker: Docker;
  storageDir: string;
  runtime?: string | undefined;
  /** this host's id (ARBITER_HOST_ID): labelled on its containers */
  hostId: string;
  /** to ask whether a container's scenario workflow still runs (the reconciler) */
  temporal: Client;
}

export function createHostActivities(deps: HostDeps) {
  // Every host activity heartbeats while it runs, so a worker that dies mid-activity (a crashed
  // container host) is noticed within the heartbeat timeout, not the start-to-close timeout.
  return keepHeartbeating({
    ...createContainerActivities(deps),
    ...createEvidenceActivities(deps),
    ...createScoringActivities(deps),
    ...createReconcileActivities(deps),
  });
}

export type MainActivities = ReturnType<typeof createMainActivities>;
export type HostActivities = ReturnType<typeof createHostActivities>;
