// Everything the workflow, the workers, the API and the CLI must agree on: queue names, message
// definitions and payload types. Call sites import from here, never repeat a string literal.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { PolicyDecision } from '../lib/policy-types.ts';
import type { ScoreResult } from '../lib/verdict.ts';

export const MAIN_TASK_QUEUE = 'arbiter-main';
export const SCENARIO_WORKFLOW_TYPE = 'scenarioWorkflow';
export const hostTaskQueue = (hostId: string): string => `arbiter-host-${hostId}`;
export const scenarioIdFromJti = (jti: string): string => `scn-${jti}`;
export const SCENARIO_ID_PATTERN = '^scn-[A-Za-z0-9-]{8,64}$';

/** Custom search attributes operators filter by in the Temporal UI. */
export const SEARCH_ATTRIBUTES = {
  ArbiterTenant: 'Keyword',
  ArbiterSubject: 'Keyword',
  ArbiterTemplate: 'Keyword',
  ArbiterTrack: 'Keyword',
  ArbiterPlan: 'Keyword',
  ArbiterStatus: 'Keyword',
} as const;

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
}

export interface AdmissionResult { status: ScenarioStatus; reasons: string[]; policy?: PolicyDecision }
export interface CompletionAck { status: ScenarioStatus }

export const statusQuery = defineQuery<ScenarioState>('status');
/** Answers once the admission steps (entitlements, policy) have decided: used by POST /api/spawn. */
export const admissionUpdate = defineUpdate<AdmissionResult>('admission');
export const completeUpdate = defineUpdate<CompletionAck, [CompletionRequest]>('complete');
/** Sent by the container host's monitor when the scenario container stops on its own. */
export const containerExitedSignal = defineSignal<[{ containerName: string; exitCode: number }]>('containerExited');

/** Failure types raised by activities and the workflow, mapped by the API to HTTP statuses. */
export const FailureTypes = {
  unknownPlan: 'UnknownPlan',
  unknownTemplate: 'UnknownTemplate',
  notRunning: 'NotRunning',
  conflictingCompletion: 'ConflictingCompletion',
  scorerFailed: 'ScorerFailed',
  imageMissing: 'ImageMissing',
} as const;

/**
 * A stable fingerprint of a completion, computable inside the workflow sandbox (no crypto there):
 * an identical resend has the same fingerprint, a different completion does not.
 */
export function completionDigest(req: Pick<CompletionRequest, 'outcome' | 'submission'>): string {
  return JSON.stringify([req.outcome, sortKeys(req.submission)]);
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  }
  return v;
}
