// One scenario, start to verdict. Deterministic: every side effect is an activity, every wait a
// durable timer or condition, so a worker, the API or the server can die at any point and the
// scenario resumes with exactly one container and at most one verdict.
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { AuditEvent } from '../lib/audit-chain.ts';
import type { PolicyDecision } from '../lib/policy-types.ts';
import { nonFiniteNumberAt } from '../lib/json-value.ts';
import { completionDigest, isSameCompletion, legacyCompletionForm } from '../lib/completion-digest.ts';
import type { MainActivities, HostActivities, Entitlement, LaunchedContainer } from '../activities/index.ts';
import { admissionUpdate, completeUpdate, containerExitedSignal, statusQuery, TERMINAL_STATUSES, type CompletionRequest, type ScenarioInput, type ScenarioState, type ScenarioStatus } from '../contract/scenario.ts';
import { COMPLETION_SHA256_PATCH, STATE_IN_MEMO_PATCH } from './patches.ts';
import { FailureTypes } from '../contract/failures.ts';
import { MEMO } from '../contract/queues.ts';
import { releaseLeaseSignal } from '../contract/quota.ts';
import { currentDetails, currentSearchAttributes, initialSearchAttributes } from '../lib/operator-view.ts';
import { startRetention } from './retention.ts';

const MAIN_RETRY = { initialInterval: '1 second', maximumInterval: '30 seconds', nonRetryableErrorTypes: [FailureTypes.unknownPlan, FailureTypes.unknownTemplate] };
const main = proxyActivities<MainActivities>({ startToCloseTimeout: '30 seconds', retry: MAIN_RETRY });
// Admission (entitlements, policy, host) is short, idempotent and read-only: as local activities
// the three run inside the workflow task that started the scenario, instead of costing three
// round trips through the server before the container is launched (bench/spawn-latency.ts).
const admission = proxyLocalActivities<Pick<MainActivities, 'checkEntitlements' | 'evaluatePolicy' | 'pickHost'>>({
  startToCloseTimeout: '30 seconds',
  retry: MAIN_RETRY,
});
/** Scenarios started before it ran admission as regular activities; their histories replay that way. */
export const ADMISSION_LOCAL_PATCH = 'admission-as-local-activities';

function hostActivities(taskQueue: string) {
  return proxyActivities<HostActivities>({
    taskQueue,
    startToCloseTimeout: '2 minutes',
    // Host activities heartbeat every few seconds (activities/heartbeat.ts): a dead host worker
    // is noticed, and the attempt retried, within this.
    heartbeatTimeout: '15 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds', nonRetryableErrorTypes: [FailureTypes.scorerFailed, FailureTypes.imageMissing] },
  });
}

export async function scenarioWorkflow(input: ScenarioInput): Promise<ScenarioState> {
  // Versioned changes, decided once, first thing: runs started before them replay as they ran.
  const stateInMemo = patched(STATE_IN_MEMO_PATCH);
  const admit = patched(ADMISSION_LOCAL_PATCH) ? admission : main;
  const fingerprint = patched(COMPLETION_SHA256_PATCH) ? completionDigest : legacyCompletionForm;
  const state: ScenarioState = {
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
  // What the API reads: the state, in the memo.
  const publish = () => {
    if (stateInMemo) upsertMemo({ [MEMO.scenarioState]: state });
  };
  // What the Temporal UI shows: filterable attributes and a one-line "where is it now".
  const showState = () => {
    upsertSearchAttributes(currentSearchAttributes(state));
    publish();
    setCurrentDetails(currentDetails(state));
  };
  upsertSearchAttributes(initialSearchAttributes(input));
  publish();
  setCurrentDetails(currentDetails(state));
  const events: AuditEvent[] = [];
  const audit = (actor: string, event: string, data?: Record<string, unknown>) => {
    events.push({ time: new Date().toISOString(), actor, event, ...(data ? { data } : {}) });
  };
  const setStatus = (status: ScenarioStatus, reason?: string) => {
    state.status = status;
    state.updatedAt = new Date().toISOString();
    if (reason !== undefined) state.reason = reason;
    audit('arbiter', `status.${status}`, reason ? { reason } : undefined);
    showState();
    log.info('scenario status', { scenarioId: input.scenarioId, correlationId: input.correlationId, status, reason });
  };

  let admitted = false;
  let completion: CompletionRequest | undefined;
  let acceptedDigest: string | undefined;

  let exitCode: number | undefined;

  setHandler(statusQuery, () => state);
  setHandler(containerExitedSignal, ({ containerName, exitCode: code }) => {
    // Only the scenario's own container counts, and only while it is the one we are waiting on.
    if (containerName !== state.containerName || state.status !== 'running' || exitCode !== undefined) return;
    exitCode = code;
    audit('container-host', 'container.exited', { exitCode: code });
  });
  setHandler(admissionUpdate, async () => {
    await condition(() => admitted || TERMINAL_STATUSES.includes(state.status));
    return { status: state.status, reasons: state.reasons ?? [] };
  });
  setHandler(
    completeUpdate,
    (req) => {
      if (!completion) {
        completion = req;
        acceptedDigest = fingerprint(req);
        state.completionDigest = acceptedDigest;
        audit(req.actor, 'completion.accepted', { outcome: req.outcome });
        publish();
      }
      return { status: state.status };
    },
    {
      validator: (req: CompletionRequest) => {
        // Rejected here, the request never enters history: a duplicate of the accepted completion
        // is answered the same way, anything else after it or outside "running" is refused.
        // The API refuses such numbers first; this catches an update sent from the Temporal UI,
        // whose Infinity would fingerprint as null and then fail evidence collection forever.
        const badNumber = nonFiniteNumberAt(req.submission);
        if (badNumber !== undefined) {
          throw ApplicationFailure.nonRetryable(`the submission holds a number JSON cannot represent (at ${badNumber})`, FailureTypes.invalidCompletion);
        }
        if (completion) {
          if (!isSameCompletion(acceptedDigest!, req)) {
            throw ApplicationFailure.nonRetryable('a different completion was already accepted', FailureTypes.conflictingCompletion);
          }
          return;
        }
        if (state.status !== 'running') throw ApplicationFailure.nonRetryable(`scenario is ${state.status}, not running`, FailureTypes.notRunning);
      },
    },
  );

  audit(input.subject, 'scenario.requested', { template: `${input.template.id}@${input.template.version}`, track: input.track, plan: input.plan });

  let entitlement: Entitlement | undefined;
  let decision: PolicyDecision | undefined;
  let launched: LaunchedContainer | undefined;
  let host: ReturnType<typeof hostActivities> | undefined;
  try {
    try {
      entitlement = await admit.checkEntitlements(input);
    } catch (err) {
      // An unknown plan or template, or a published template whose files changed, is a refusal,
      // not an outage: report it like a policy deny.
      const type = applicationFailureType(err);
      if (type !== FailureTypes.unknownPlan && type !== FailureTypes.unknownTemplate && type !== FailureTypes.templateModified) throw err;
      state.reasons = [failureMessage(err)];
      setStatus('denied', failureMessage(err));
      await main.writeAudit({ scenarioId: input.scenarioId, events });
      return state;
    }
    state.plan = entitlement.plan;
    state.ttlSeconds = entitlement.limits.ttlSeconds;
    audit('arbiter', 'entitlements.resolved', { plan: entitlement.plan, source: entitlement.source, limits: entitlement.limits });

    decision = await admit.evaluatePolicy({
      scenarioId: input.scenarioId,
      subject: input.subject,
      tenant: input.tenant,
      track: input.track,
      entitlement,
    });
    state.policySha256 = decision.policySha256;
    audit('arbiter', 'policy.decided', { allow: decision.allow, reasons: decision.reasons, policySha256: decision.policySha256 });
    if (!decision.allow) {
      state.reasons = decision.reasons;
      setStatus('denied', decision.reasons.join('; '));
      await main.writeAudit({ scenarioId: input.scenarioId, events });
      return state;
    }

    const picked = await admit.pickHost(input.scenarioId);
    state.hostId = picked.hostId;
    host = hostActivities(picked.taskQueue);
    setStatus('launching');
    admitted = true;

    // Not cancellable: a cancel that arrives mid-launch waits for the container to exist, so the
    // cleanup below knows it and removes it, instead of racing a launch still under way.
    const launchRequest = {
      scenarioId: input.scenarioId,
      tenant: input.tenant,
      subject: input.subject,
      template: entitlement.template,
      templateDigest: entitlement.templateDigest,
      limits: entitlement.limits,
    };
    const launching = host;
    launched = await CancellationScope.nonCancellable(() => launching.launchContainer(launchRequest));
    state.containerName = launched.containerName;
    audit('arbiter', 'container.launched', { containerName: launched.containerName, imageId: launched.imageId, hostId: picked.hostId });
    setStatus('running');
    // The container had already stopped when the launch found it (the engine restarted mid-launch,
    // or it exited between create and record): its exit signal came while nobody was waiting for
    // it, so the launch's word is taken instead of waiting out the TTL.
    if (launched.exitCode !== undefined && exitCode === undefined) {
      exitCode = launched.exitCode;
      audit('container-host', 'container.exited', { exitCode });
    }

    // The first of: a completion, the container stopping on its own, the TTL, or a cancel.
    const inTime = await condition(() => completion !== undefined || exitCode !== undefined, `${entitlement.limits.ttlSeconds} seconds`);
    const ended = completion ? 'completed' : inTime ? 'exited' : 'timed_out';

    await host.collectEvidence({
      scenarioId: input.scenarioId,
      containerName: launched.containerName,
      template: entitlement.template,
      completion: completion ?? null,
      entitlement,
      policy: decision,
    });
    await CancellationScope.nonCancellable(() => host!.teardownContainer({ containerName: launched!.containerName }));
    audit('arbiter', 'container.removed', { containerName: launched.containerName });
    launched = undefined;

    if (ended === 'timed_out') {
      setStatus('timed_out', `no completion within ${entitlement.limits.ttlSeconds}s`);
      await main.writeAudit({ scenarioId: input.scenarioId, events });
      return state;
    }
    // The container stopped before completion: it exited by itself, or its engine stopped it (a
    // dockerd restart without live-restore stops every container). Either way the environment and
    // whatever the subject did in it are gone. It is not relaunched: a second container would hand
    // the subject a fresh environment under the same scenario, and a scenario has exactly one
    // container. It fails with the exit code, its evidence says what was left, and the lease is
    // released (finally, below) so the subject can spawn again.
    if (ended === 'exited' && !completion) {
      setStatus('failed', `the scenario container exited (code ${exitCode ?? '?'}) before completion`);
      await main.writeAudit({ scenarioId: input.scenarioId, events });
      return state;
    }

    setStatus('scoring');
    const scored = await host.runScorer({ scenarioId: input.scenarioId, template: entitlement.template, templateDigest: entitlement.templateDigest });
    state.score = { score: scored.score.score, maxScore: scored.score.maxScore, passed: scored.score.passed };
    audit('arbiter', 'score.computed', { ...state.score, scoreSha256: scored.scoreSha256 });

    // The audit chain (and so the verdict) records "scored"; readers see it only once the verdict
    // exists, so a status of scored always has a verdict to fetch.
    const scoredAt = new Date().toISOString();
    audit('arbiter', 'status.scored');
    const signed = await main.signVerdict({
      input,
      entitlement,
      policy: decision,
      outcome: completion!.outcome,
      status: 'scored',
      issuedAt: scoredAt,
      events,
    });
    state.status = 'scored';
    state.updatedAt = scoredAt;
    state.verdictKeyId = signed.keyId;
    await startRetention({
      scenarioId: input.scenarioId,
      correlationId: input.correlationId,
      tenant: input.tenant,
      subject: input.subject,
      plan: entitlement.plan,
      retentionDays: entitlement.retentionDays,
      scoredAt: state.updatedAt,
    });
    showState();
    return state;
  } catch (err) {
    if (isCancellation(err)) {
      setStatus('cancelled', 'cancelled by request');
    } else {
      setStatus('failed', failureMessage(err));
    }
    await CancellationScope.nonCancellable(async () => {
      if (launched && host) await host.teardownContainer({ containerName: launched.containerName });
      await main.writeAudit({ scenarioId: input.scenarioId, events });
    });
    if (isCancellation(err)) throw err;
    return state;
  } finally {
    admitted = true;
    // Every way out releases the quota lease (termination cannot run this: the quota entity's
    // holder check frees those).
    const quotaId = input.quotaWorkflowId;
    if (quotaId) {
      await CancellationScope.nonCancellable(() =>
        getExternalWorkflowHandle(quotaId).signal(releaseLeaseSignal, { scenarioId: input.scenarioId }).catch(() => undefined));
    }
  }
}

/** The application failure type an activity raised: wrapped in an ActivityFailure, or as is (local activities). */
function applicationFailureType(err: unknown): string | undefined {
  const failure = err instanceof ActivityFailure ? err.cause : err;
  return failure instanceof ApplicationFailure ? (failure.type ?? undefined) : undefined;
}

function failureMessage(err: unknown): string {
  if (err instanceof ApplicationFailure) return err.message;
  if (err instanceof Error) return (err.cause instanceof Error ? err.cause.message : undefined) ?? err.message;
  return String(err);
}
