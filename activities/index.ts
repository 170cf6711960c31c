// Activity factories. Dependencies (Docker, policy, signer, storage) are injected so the same
// code runs in the workers and in tests against the real engines. Two sets: the main set runs on
// the shared queue; the host set runs on the queue of the Docker host that owns the container.
import type Docker from 'dockerode';
import type { Client } from '@temporalio/client';
import type { Signer } from '../infra/keys.ts';
import type { Plans } from '../infra/plans.ts';
import { createContainerActivities } from './launch-and-teardown.ts';
import { createEntitlementActivities } from './check-entitlements.ts';
import { createLeaseActivities } from './lease-holders.ts';
import { createEvidenceActivities } from './collect-evidence.ts';
import type { AccessRegistry } from '../infra/access-registry.ts';
import type { HostPools } from './launch-and-teardown.ts';
import type { PolicyEngine } from '../infra/policy/wasm-engine.ts';
import { createPolicyActivities } from './evaluate-policy.ts';
import { createRetentionActivities } from './delete-artifacts.ts';
import { createScoringActivities } from './score.ts';
import { createVerdictActivities } from './sign-verdict.ts';
import { createReconcileActivities } from './reconcile-containers.ts';
import { keepHeartbeating } from './heartbeat.ts';
import { createHostPickActivities } from './pick-host.ts';
import { createAdmitActivities } from './admit.ts';
import { createSealActivities } from './seal-scenario.ts';
import { createConcludeActivities } from './conclude.ts';
import type { Removals } from '../infra/removals.ts';
import type { ArtifactStore } from '../infra/artifact-store.ts';

export type { Entitlement } from './check-entitlements.ts';
export type { LaunchedContainer } from './launch-and-teardown.ts';

export interface MainDeps {
  plans: Plans;
  templatesDir: string;
  policy: PolicyEngine;
  signer: Signer;
  storageDir: string;
  /** where results live; default: the storage folder */
  store?: ArtifactStore;
  hostIds: string[];
  temporal: Client;
}

export function createMainActivities(deps: MainDeps) {
  if (deps.hostIds.length === 0) throw new Error('at least one container host id is required');
  const entitlements = createEntitlementActivities(deps);
  const policy = createPolicyActivities(deps);
  const hosts = createHostPickActivities(deps);
  const verdicts = createVerdictActivities(deps);
  return {
    ...entitlements,
    ...createLeaseActivities(deps),
    ...verdicts,
    ...createRetentionActivities(deps),
    ...policy,
    ...hosts,
    ...createAdmitActivities({ ...entitlements, ...policy, ...hosts }),
    ...createSealActivities({ temporal: deps.temporal, ...verdicts }),
  };
}

export interface HostDeps {
  docker: Docker;
  storageDir: string;
  /** where this host uploads evidence and scores; default: its storage folder, nothing to upload */
  store?: ArtifactStore;
  runtime?: string | undefined;
  /** this host's id (ARBITER_HOST_ID): labelled on its containers */
  hostId: string;
  /** to ask whether a container's scenario workflow still runs (the reconciler) */
  temporal: Client;
  /** the host's live subject access, closed per scenario before its evidence is taken */
  access?: AccessRegistry;
  /** shared with the host's monitor: containers teardown removes are not reported as exits */
  removals?: Removals;
  /** the host's warm pools (workers/pool-keeper.ts); without, launches still claim what is pooled */
  pools?: HostPools;
}

export function createHostActivities(deps: HostDeps) {
  // Every host activity heartbeats while it runs, so a worker that dies mid-activity (a crashed
  // container host) is noticed within the heartbeat timeout, not the start-to-close timeout.
  const containers = createContainerActivities(deps);
  const evidence = createEvidenceActivities(deps);
  const scoring = createScoringActivities(deps);
  return keepHeartbeating({
    ...containers,
    ...evidence,
    ...scoring,
    ...createReconcileActivities(deps),
    ...createConcludeActivities({ docker: deps.docker, storageDir: deps.storageDir, store: deps.store, ...containers, ...evidence, score: scoring.score }),
  });
}

export type MainActivities = ReturnType<typeof createMainActivities>;
export type HostActivities = ReturnType<typeof createHostActivities>;
