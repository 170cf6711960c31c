// The scenario workflow's contract: its input, its state and statuses, and the messages the API,
// the container host's monitor and operators send it.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { AccessGrant, PolicyDecision } from '../lib/policy-types.ts';
import type { ScoreResult } from '../lib/verdict-format.ts';
import type { ResolvedEntitlement } from './tenant.ts';

export const scenarioIdFromJti = (jti: string): string => `scn-${jti}`;
export const SCENARIO_ID_PATTERN = '^scn-[A-Za-z0-9-]{8,64}$';

export const STATUSES = [
  'pending', 'denied', 'launching', 'running', 'scoring', 'scored', 'failed', 'timed_out', 'cancelled', 'expired',
] as const;
export type ScenarioStatus = (typeof STATUSES)[number];
export const TERMINAL_STATUSES: readonly ScenarioStatus[] = ['denied', 'scored', 'failed', 'timed_out', 'cancelled', 'expired'];

export interface ScenarioInput {
  scenarioId: string;
  correlationId: string;
  subject: string;
  tenant: string;
  /** the plan the SAT claims; checkEntitlements re-resolves it and wins */
  plan: string;
  template: { id: string; version: string };
  track: string;
  retentionDays: number;
  createdAt: string;
  /** the quota entity holding this scenario's lease; released on every way the scenario ends */
  quotaWorkflowId?: string;
  /**
   * The tenant's plan as the API read it for this spawn, from the same tenant entity memo, just
   * before it took the lease under that plan's limits (null: the tenant has no record, the SAT's
   * claim stands). Admission uses it rather than reading it again a few milliseconds later;
   * absent (other starters, inputs from before it), admission reads the tenant entity itself.
   */
  tenantPlanAtSpawn?: Pick<ResolvedEntitlement, 'plan' | 'source'> | null;
}

export interface CompletionRequest {
  outcome: string;
  submission: Record<string, unknown>;
  /** who sent it: the scenario host (completion token) or an operator */
  actor: string;
}

export interface ScenarioState {
  scenarioId: string;
  status: ScenarioStatus;
  tenant: string;
  subject: string;
  template: string;
  templateVersion: string;
  track: string;
  plan: string;
  createdAt: string;
  updatedAt: string;
  reason?: string;
  reasons?: string[];
  hostId?: string;
  containerName?: string;
  ttlSeconds?: number;
  policySha256?: string;
  completionDigest?: string;
  score?: Pick<ScoreResult, 'score' | 'maxScore' | 'passed'>;
  verdictKeyId?: string;
  /** what the subject may do inside while it runs, as the policy decided */
  access?: AccessGrant;
  /** the main service's working directory: relative paths of exec and files resolve against it */
  workdir?: string;
  /** the scenario's services (absent before multi-service scenarios existed: one, "main") */
  services?: ServiceView[];
  /** the required service whose exit ended the scenario (status failed, reason environment_reset) */
  reset?: EnvironmentReset;
}

/** One service of a running scenario: what the access routes resolve `service` to. */
export interface ServiceView { name: string; main: boolean; required: boolean; containerName: string; workdir: string }

/** Which service stopped, how, and whether the kernel's OOM killer did it. */
export interface EnvironmentReset { service: string; exitCode: number; oomKilled: boolean }

export const ENVIRONMENT_RESET = 'environment_reset';

/** The reason a scenario whose environment reset ends with: it names the service, its exit code and any OOM kill. */
export function resetReason(r: EnvironmentReset): string {
  return `${ENVIRONMENT_RESET}: service "${r.service}" exited (code ${r.exitCode}${r.oomKilled ? ', OOM-killed by the kernel' : ''}) before completion`;
}

export const HOST_LOST = 'host_lost';

/**
 * Sent by the main worker's host watch (workers/host-watch.ts) to the open scenarios of a host
 * whose reports stopped: its worker and engine are gone, and whatever the scenario had there with
 * them. `lastReportAt` is when the host last said it was alive (ISO 8601).
 */
export interface HostLost { hostId: string; lastReportAt: string }

/** The reason a scenario whose host was lost ends with. */
export function hostLostReason(h: HostLost): string {
  return `${HOST_LOST}: container host "${h.hostId}" stopped answering (last report ${h.lastReportAt}); its containers and whatever the scenario did in them are out of reach`;
}

export interface AdmissionResult { status: ScenarioStatus; reasons: string[]; policy?: PolicyDecision }
export interface CompletionAck { status: ScenarioStatus }

export const statusQuery = defineQuery<ScenarioState>('status');
/** Answers once the admission steps (entitlements, policy) have decided: used by POST /api/spawn. */
export const admissionUpdate = defineUpdate<AdmissionResult>('admission');
export const completeUpdate = defineUpdate<CompletionAck, [CompletionRequest]>('complete');
/** Sent by the container host's monitor when the scenario container stops on its own. */
export const containerExitedSignal = defineSignal<[ContainerExit]>('containerExited');
/** Sent by the main worker's host watch when the scenario's host stopped answering. */
export const hostLostSignal = defineSignal<[HostLost]>('hostLost');
/** `oomKilled`: the kernel's OOM killer ended the container's main process (activities/container-spec.ts diedOfOomKill); absent from monitors that predate it. */
export interface ContainerExit { containerName: string; exitCode: number; oomKilled?: boolean }

/** A scenario's state before its first step: what the API puts in its memo at start. */
export function initialState(input: ScenarioInput): ScenarioState {
  return {
    scenarioId: input.scenarioId,
    status: 'pending',
    tenant: input.tenant,
    subject: input.subject,
    template: input.template.id,
    templateVersion: input.template.version,
    track: input.track,
    plan: input.plan,
    createdAt: input.createdAt,
    updatedAt: input.createdAt,
  };
}
