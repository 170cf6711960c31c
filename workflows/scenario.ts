// One scenario, start to verdict. Deterministic: every side effect is an activity, every wait a
// durable timer or condition, so a worker, the API or the server can die at any point and the
// scenario resumes with exactly one container and at most one verdict.
//
// The state and what the message handlers do live in one class (Temporal's safe-message-handlers
// sample): the handlers and the steps read and change the same fields, and nothing else does.
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
import type { MainActivities, HostActivities, Entitlement } from '../activities/index.ts';
import {
  admissionUpdate,
  completeUpdate,
  containerExitedSignal,
  hostLostReason,
  hostLostSignal,
  statusQuery,
  TERMINAL_STATUSES,
  type AdmissionResult,
  resetReason,
  initialState,
  type CompletionAck,
  type CompletionRequest,
  type ContainerExit,
  type EnvironmentReset,
  type HostLost,
  type ScenarioInput,
  type ScenarioState,
  type ScenarioStatus,
} from '../contract/scenario.ts';
import { ACTIVITY_NAMES_BY_STEP_PATCH, ADMISSION_LOCAL_PATCH, COMPLETION_SHA256_PATCH, HOST_LOSS_PATCH, LEAN_HISTORY_PATCH, POD_TEARDOWN_PATCH, STATE_IN_MEMO_PATCH } from './patches.ts';
import { FailureTypes } from '../contract/failures.ts';
import { MEMO } from '../contract/queues.ts';
import { releaseLeaseSignal } from '../contract/quota.ts';
import { currentDetails, currentSearchAttributes, initialSearchAttributes } from '../lib/operator-view.ts';
import { startRetention } from './retention.ts';
import type { RetentionInput } from '../contract/retention.ts';

const MAIN_RETRY = { initialInterval: '1 second', maximumInterval: '30 seconds', nonRetryableErrorTypes: [FailureTypes.unknownPlan, FailureTypes.unknownTemplate] };
const main = proxyActivities<MainActivities>({ startToCloseTimeout: '30 seconds', retry: MAIN_RETRY });
// Admission (entitlements, policy, host) is short, idempotent and read-only: as local activities
// the three run inside the workflow task that started the scenario, instead of costing three
// round trips through the server before the container is launched (bench/spawn-latency.ts).
const localAdmission = proxyLocalActivities<Pick<MainActivities, 'checkEntitlements' | 'evaluatePolicy' | 'pickHost' | 'admit'>>({
  startToCloseTimeout: '30 seconds',
  retry: MAIN_RETRY,
});
// Signing, retention's start and the lease's release run on this worker too: as a local activity
// they cost the history one marker instead of an activity, a child workflow and a signal.
const localSeal = proxyLocalActivities<Pick<MainActivities, 'sealScenario' | 'endScenario'>>({ startToCloseTimeout: '30 seconds', retry: MAIN_RETRY });

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
type Host = ReturnType<typeof hostActivities>;

/** What admission settled: the container runs under this entitlement and decision, on this host. */
interface Admission { entitlement: Entitlement; decision: PolicyDecision; host: Host }
/** How the wait for the container ended. */
type Ended = 'completed' | 'exited' | 'timed_out';

export async function scenarioWorkflow(input: ScenarioInput): Promise<ScenarioState> {
  const scenario = new Scenario(input);
  setHandler(statusQuery, () => scenario.state);
  setHandler(containerExitedSignal, (exit) => scenario.containerExited(exit));
  setHandler(hostLostSignal, (lost) => scenario.hostLost(lost));
  setHandler(admissionUpdate, () => scenario.admission());
  setHandler(completeUpdate, (req) => scenario.complete(req), { validator: (req: CompletionRequest) => scenario.validateCompletion(req) });
  return scenario.run();
}

class Scenario {
  readonly state: ScenarioState;
  private readonly stateInMemo: boolean;
  /** one activity per phase, one marker per patch: see LEAN_HISTORY_PATCH */
  private readonly lean: boolean;
  /** the scenario released its quota lease itself (sealScenario), so the way out need not */
  private leaseReleased = false;
  private readonly admissionSteps: typeof localAdmission;
  private readonly fingerprint: (req: CompletionRequest) => string;
  /** step 8's activity type: `runScorer` in histories from before it was named by its step */
  private readonly scoreActivity: 'score' | 'runScorer';
  private readonly events: AuditEvent[] = [];
  private admitted = false;
  private completion: CompletionRequest | undefined;
  private acceptedDigest: string | undefined;
  private firstAck: CompletionAck | undefined;
  private exitCode: number | undefined;
  /** the wait for a completion is over (exit, TTL): later completions would miss the evidence */
  private waitOver = false;
  /** the required service whose exit ended the wait */
  private reset: EnvironmentReset | undefined;
  /** The containers to remove on every way out, until they have been removed. */
  private launched: { containerName: string; host: Host } | undefined;
  /** Every container of a multi-service scenario, its namespace holder included (which is required too). */
  private members: Array<{ name: string; containerName: string; required: boolean }> | undefined;
  /** What the host's conclusion scored (lean histories score in the same activity as the teardown). */
  private scored: { score: { score: number; maxScore: number; passed: boolean }; scoreSha256: string } | undefined;
  /** Where a launch that failed may have left containers (a pod launched halfway). */
  private launchingOn: Host | undefined;
  /**
   * How long what the scenario leaves is kept: the plan's days once entitlements are resolved, the
   * SAT's claim before (a scenario denied for an unknown plan, or failed before admission).
   */
  private retentionDays: number;
  /** The scenario's host stopped answering: nothing more is asked of it (HOST_LOSS_PATCH). */
  private lost: HostLost | undefined;
  /** The host was asked for the evidence (and the score): it may have written some before it was lost. */
  private collecting = false;

  constructor(private readonly input: ScenarioInput) {
    // Versioned changes, decided once, first thing: runs started before them replay as they ran.
    // The lean patch implies all the others: asked first, so a scenario that has it records no other.
    const lean = this.lean = patched(LEAN_HISTORY_PATCH);
    this.stateInMemo = lean || patched(STATE_IN_MEMO_PATCH);
    this.admissionSteps = lean || patched(ADMISSION_LOCAL_PATCH) ? localAdmission : main;
    this.fingerprint = lean || patched(COMPLETION_SHA256_PATCH) ? completionDigest : legacyCompletionForm;
    this.scoreActivity = lean || patched(ACTIVITY_NAMES_BY_STEP_PATCH) ? 'score' : 'runScorer';
    this.state = initialState(input);
    this.retentionDays = input.retentionDays;
    // The API starts the scenario with these attributes and this state in its memo already.
    if (!lean) {
      upsertSearchAttributes(initialSearchAttributes(input));
      this.publish();
    }
    setCurrentDetails(currentDetails(this.state));
  }

  // ---- message handlers ------------------------------------------------------------------------

  containerExited({ containerName, exitCode, oomKilled }: ContainerExit): void {
    // Only the scenario's own containers count, and only while we are waiting on them.
    if (this.state.status !== 'running' || this.exitCode !== undefined) return;
    const members = this.members;
    const service = members ? members.find((s) => s.containerName === containerName) : (containerName === this.state.containerName ? { name: 'main', required: true } : undefined);
    if (!service) return;
    if (!members) {
      // A single-container scenario, as it has always been recorded.
      this.exitCode = exitCode;
      this.reset = { service: service.name, exitCode, oomKilled: oomKilled === true };
      this.audit('container-host', 'container.exited', { exitCode, ...(oomKilled !== undefined ? { oomKilled } : {}) });
      return;
    }
    const data = { service: service.name, containerName, exitCode, oomKilled: oomKilled === true };
    // A service the scenario does not depend on may stop; the record says so and it goes on.
    if (!service.required) return this.audit('container-host', 'service.exited', data);
    this.exitCode = exitCode;
    this.reset = { service: service.name, exitCode, oomKilled: oomKilled === true };
    this.audit('container-host', 'container.exited', data);
  }

  hostLost(lost: HostLost): void {
    // Only the scenario's own host, only once, only while something of it is there. The patch is
    // asked here, when the signal comes: a scenario that never hears of a lost host records no
    // marker, and one started before it replays ignoring the signal, as it ran.
    if (this.lost || !this.state.hostId || lost.hostId !== this.state.hostId || TERMINAL_STATUSES.includes(this.state.status)) return;
    if (!patched(HOST_LOSS_PATCH)) return;
    this.lost = lost;
  }

  async admission(): Promise<AdmissionResult> {
    await condition(() => this.admitted || TERMINAL_STATUSES.includes(this.state.status));
    return { status: this.state.status, reasons: this.state.reasons ?? [] };
  }

  complete(req: CompletionRequest): CompletionAck {
    // The same completion again is answered as the first was (CONTRACT): lean histories publish
    // "scoring" in the task that accepted it, so the status now may already be past "running".
    if (this.completion && this.lean && this.firstAck) return this.firstAck;
    if (!this.completion) {
      this.completion = req;
      this.acceptedDigest = this.fingerprint(req);
      this.state.completionDigest = this.acceptedDigest;
      this.audit(req.actor, 'completion.accepted', { outcome: req.outcome });
      // Lean: published with the status "scoring" the wait's end sets in this same workflow task.
      if (!this.lean) this.publish();
      this.firstAck = { status: this.state.status };
    }
    return { status: this.state.status };
  }

  validateCompletion(req: CompletionRequest): void {
    // Rejected here, the request never enters history: a duplicate of the accepted completion
    // is answered the same way, anything else after it or outside "running" is refused.
    // The API refuses such numbers first; this catches an update sent from the Temporal UI,
    // whose Infinity would fingerprint as null and then fail evidence collection forever.
    const badNumber = nonFiniteNumberAt(req.submission);
    if (badNumber !== undefined) {
      throw ApplicationFailure.nonRetryable(`the submission holds a number JSON cannot represent (at ${badNumber})`, FailureTypes.invalidCompletion);
    }
    if (this.completion) {
      if (!isSameCompletion(this.acceptedDigest!, req)) {
        throw ApplicationFailure.nonRetryable('a different completion was already accepted', FailureTypes.conflictingCompletion);
      }
      return;
    }
    if (this.state.status !== 'running') throw ApplicationFailure.nonRetryable(`scenario is ${this.state.status}, not running`, FailureTypes.notRunning);
    // The status still reads "running" while evidence is collected after an exit or the TTL; a
    // completion accepted then would be scored over evidence that does not hold it. Refused in the
    // validator only, so histories that accepted one before this still replay as they ran.
    if (this.waitOver) throw ApplicationFailure.nonRetryable('the scenario is ending (its container exited or its TTL passed): too late to complete it', FailureTypes.notRunning);
  }

  // ---- the steps -------------------------------------------------------------------------------

  async run(): Promise<ScenarioState> {
    const { input } = this;
    this.audit(input.subject, 'scenario.requested', { template: `${input.template.id}@${input.template.version}`, track: input.track, plan: input.plan });
    try {
      const admission = await this.admit();
      if ('denied' in admission) {
        this.state.reasons = admission.denied;
        return await this.finish('denied', admission.denied.join('; '));
      }
      const ended = await this.runContainer(admission);
      const ttlSeconds = admission.entitlement.limits.ttlSeconds;
      if (ended === 'timed_out') return await this.finish('timed_out', `no completion within ${ttlSeconds}s`);
      // The container stopped before completion: it exited by itself, or its engine stopped it (a
      // dockerd restart without live-restore stops every container). Either way the environment and
      // whatever the subject did in it are gone. It is not relaunched: a second container would hand
      // the subject a fresh environment under the same scenario, and a scenario has exactly one
      // container. It fails with the exit code, its evidence says what was left, and the lease is
      // released (finally, below) so the subject can spawn again.
      if (ended === 'exited' && !this.completion) {
        const reset = this.reset ?? { service: 'main', exitCode: this.exitCode ?? -1, oomKilled: false };
        this.state.reset = reset;
        return await this.finish('failed', resetReason(reset));
      }
      return await this.scoreAndSign(admission);
    } catch (err) {
      const cancelled = isCancellation(err);
      const ended = await CancellationScope.nonCancellable(() =>
        this.finish(cancelled ? 'cancelled' : 'failed', cancelled ? 'cancelled by request' : failureMessage(err)));
      if (cancelled) throw err;
      return ended;
    } finally {
      this.admitted = true;
      // Every way out releases the quota lease (termination cannot run this: the quota entity's
      // holder check frees those).
      const quotaId = input.quotaWorkflowId;
      if (quotaId && !this.leaseReleased) {
        await CancellationScope.nonCancellable(() =>
          getExternalWorkflowHandle(quotaId).signal(releaseLeaseSignal, { scenarioId: input.scenarioId }).catch(() => undefined));
      }
    }
  }

  /** Steps 1-3: entitlements, policy, host. Admitted, or denied with the reasons. */
  private async admit(): Promise<Admission | { denied: string[] }> {
    if (this.lean) {
      const outcome = await localAdmission.admit(this.input);
      if ('refused' in outcome) return { denied: [outcome.refused] };
      this.entitled(outcome.entitlement);
      this.decided(outcome.decision);
      if (!outcome.decision.allow || !outcome.host) return { denied: outcome.decision.reasons };
      return { entitlement: outcome.entitlement, decision: outcome.decision, host: this.launchOn(outcome.host) };
    }
    const { input } = this;
    let entitlement: Entitlement;
    try {
      entitlement = await this.admissionSteps.checkEntitlements(input);
    } catch (err) {
      // An unknown plan or template, or a published template whose files changed, is a refusal,
      // not an outage: report it like a policy deny.
      const type = applicationFailureType(err);
      if (type !== FailureTypes.unknownPlan && type !== FailureTypes.unknownTemplate && type !== FailureTypes.templateModified) throw err;
      return { denied: [failureMessage(err)] };
    }
    this.entitled(entitlement);

    const decision = await this.admissionSteps.evaluatePolicy({
      scenarioId: input.scenarioId,
      subject: input.subject,
      tenant: input.tenant,
      track: input.track,
      entitlement,
    });
    this.decided(decision);
    if (!decision.allow) return { denied: decision.reasons };

    const picked = await this.admissionSteps.pickHost(input.scenarioId);
    return { entitlement, decision, host: this.launchOn(picked) };
  }

  private entitled(entitlement: Entitlement): void {
    this.state.plan = entitlement.plan;
    this.state.ttlSeconds = entitlement.limits.ttlSeconds;
    this.retentionDays = entitlement.retentionDays;
    this.audit('arbiter', 'entitlements.resolved', { plan: entitlement.plan, source: entitlement.source, limits: entitlement.limits });
  }

  private decided(decision: PolicyDecision): void {
    this.state.policySha256 = decision.policySha256;
    if (decision.access) this.state.access = decision.access;
    this.audit('arbiter', 'policy.decided', { allow: decision.allow, reasons: decision.reasons, policySha256: decision.policySha256 });
  }

  /** Admitted: the scenario is launching on the picked host. */
  private launchOn(picked: { hostId: string; taskQueue: string }): Host {
    this.state.hostId = picked.hostId;
    this.setStatus('launching');
    this.admitted = true;
    return hostActivities(picked.taskQueue);
  }

  /** Steps 4-7: launch, wait, collect evidence, tear down. Says how the wait ended. */
  private async runContainer(admission: Admission): Promise<Ended> {
    const { entitlement, host } = admission;
    const { input } = this;
    // Not cancellable: a cancel that arrives mid-launch waits for the container to exist, so the
    // cleanup (finish) knows it and removes it, instead of racing a launch still under way.
    const launchRequest = {
      scenarioId: input.scenarioId,
      tenant: input.tenant,
      subject: input.subject,
      template: entitlement.template,
      templateDigest: entitlement.templateDigest,
      limits: entitlement.limits,
      policySha256: admission.decision.policySha256,
    };
    this.launchingOn = host;
    // The whole race is shielded, not just the activity: a cancel would otherwise reject the wait for
    // host loss and skip past a launch still under way.
    const launched = await CancellationScope.nonCancellable(() => this.onHost(host.launchContainer(launchRequest)));
    this.launchingOn = undefined;
    this.launched = { containerName: launched.containerName, host };
    this.state.containerName = launched.containerName;
    if (launched.workdir) this.state.workdir = launched.workdir;
    const pod = launched.services?.filter((s) => s.role === 'service');
    if (launched.services) this.members = launched.services.map((s) => ({ name: s.name, containerName: s.containerName, required: s.required }));
    if (pod) this.state.services = pod.map((s) => ({ name: s.name, main: s.main, required: s.required, containerName: s.containerName, workdir: s.workdir }));
    this.audit('arbiter', 'container.launched', {
      containerName: launched.containerName, imageId: launched.imageId, hostId: this.state.hostId,
      ...(launched.services ? { containers: launched.services.map((s) => ({ name: s.name, role: s.role, containerName: s.containerName, containerId: s.containerId })) } : {}),
    });
    this.setStatus('running');
    // A container had already stopped when the launch found it (the engine restarted mid-launch,
    // or it exited between create and record): its exit signal came while nobody was waiting for
    // it, so the launch's word is taken instead of waiting out the TTL.
    if (launched.stopped && this.exitCode === undefined) {
      this.containerExited(launched.stopped);
    } else if (launched.exitCode !== undefined && this.exitCode === undefined) {
      this.exitCode = launched.exitCode;
      this.audit('container-host', 'container.exited', { exitCode: this.exitCode });
    }

    // The first of: a completion, the container stopping on its own, the TTL, or a cancel.
    const inTime = await condition(() => this.completion !== undefined || this.exitCode !== undefined || this.lost !== undefined, `${entitlement.limits.ttlSeconds} seconds`);
    this.waitOver = true;
    if (this.lost) throw this.hostLostFailure();
    const ended: Ended = this.completion ? 'completed' : inTime ? 'exited' : 'timed_out';
    if (this.lean) return this.conclude(admission, ended);

    this.collecting = true;
    await this.onHost(host.collectEvidence({
      scenarioId: input.scenarioId,
      containerName: launched.containerName,
      template: entitlement.template,
      completion: this.completion ?? null,
      entitlement,
      policy: admission.decision,
    }));
    await CancellationScope.nonCancellable(() => this.onHost(host.teardownContainer(this.teardownRequest(launched.containerName))));
    this.audit('arbiter', 'container.removed', { containerName: launched.containerName });
    this.launched = undefined;
    return ended;
  }

  /**
   * Lean steps 6-8: one host activity collects the evidence, removes the containers and, after a
   * completion, scores. "scoring" is published with the completion, in the workflow task that
   * accepted it.
   */
  private async conclude({ entitlement, decision, host }: Admission, ended: Ended): Promise<Ended> {
    const { input } = this;
    const { containerName } = this.launched!;
    if (ended === 'completed') this.setStatus('scoring');
    // Cancellable, as evidence and scoring always were (a cancel stops a scorer at once): the
    // containers stay in this.launched until it returns, so a cancel's cleanup removes them.
    this.collecting = true;
    const concluded = await this.onHost(host.concludeScenario({
      evidence: { scenarioId: input.scenarioId, containerName, template: entitlement.template, completion: this.completion ?? null, entitlement, policy: decision },
      teardown: this.teardownRequest(containerName),
      ...(ended === 'completed' ? { score: { scenarioId: input.scenarioId, template: entitlement.template, templateDigest: entitlement.templateDigest } } : {}),
    }));
    this.audit('arbiter', 'container.removed', { containerName });
    this.launched = undefined;
    this.scored = concluded.scored;
    return ended;
  }

  /** Steps 8-11: score, sign the verdict, scored, start retention. */
  private async scoreAndSign({ entitlement, decision, host }: Admission): Promise<ScenarioState> {
    const { input, state } = this;
    let scored = this.scored;
    if (!scored) {
      this.setStatus('scoring');
      scored = await this.onHost(host[this.scoreActivity]({ scenarioId: input.scenarioId, template: entitlement.template, templateDigest: entitlement.templateDigest }));
    }
    state.score = { score: scored.score.score, maxScore: scored.score.maxScore, passed: scored.score.passed };
    this.audit('arbiter', 'score.computed', { ...state.score, scoreSha256: scored.scoreSha256 });

    // The audit chain (and so the verdict) records "scored"; readers see it only once the verdict
    // exists, so a status of scored always has a verdict to fetch.
    const scoredAt = new Date().toISOString();
    this.audit('arbiter', 'status.scored');
    const sign = { input, entitlement, policy: decision, outcome: this.completion!.outcome, status: 'scored' as const, issuedAt: scoredAt, events: this.events };
    const retention = { ...this.retentionInput(scoredAt), plan: entitlement.plan, retentionDays: entitlement.retentionDays, scoredAt };
    let keyId: string;
    if (this.lean) {
      ({ keyId } = await localSeal.sealScenario({ sign, retention, ...(input.quotaWorkflowId ? { quotaWorkflowId: input.quotaWorkflowId } : {}) }));
      this.leaseReleased = true;
    } else {
      ({ keyId } = await main.signVerdict(sign));
    }
    state.status = 'scored';
    state.updatedAt = scoredAt;
    state.verdictKeyId = keyId;
    if (!this.lean) await startRetention(retention);
    this.showState();
    return state;
  }

  /**
   * Every way a scenario ends without a verdict: its status, its container removed if a failure
   * or a cancel left one, its audit log written, and (lean histories) the retention of what it
   * left started, counted from now as a verdict's is from its issue time.
   */
  private async finish(status: ScenarioStatus, reason: string): Promise<ScenarioState> {
    this.setStatus(status, reason);
    // A lost host is asked nothing: its queue has no worker, the call would wait for it forever.
    // Its reconciler removes what it left when it comes back.
    if (this.launched && !this.lost) await this.launched.host.teardownContainer(this.teardownRequest(this.launched.containerName));
    // A launch that failed (a service never ready, a worker lost halfway) may have created some of
    // the scenario's containers: they are found by the scenario's label. Histories from before
    // pods did not do this.
    else if (this.launchingOn && !this.lost && (this.lean || patched(POD_TEARDOWN_PATCH))) await this.launchingOn.teardownContainer({ scenarioId: this.input.scenarioId });
    if (this.lean) {
      // The retention input is the local activity's argument, which its marker does not record:
      // histories from before every end was retained replay unchanged.
      await localSeal.endScenario({
        scenarioId: this.input.scenarioId,
        events: this.events,
        retention: this.retentionInput(this.state.updatedAt),
        ...(this.input.quotaWorkflowId ? { quotaWorkflowId: this.input.quotaWorkflowId } : {}),
      });
      this.leaseReleased = true;
    } else {
      await main.writeAudit({ scenarioId: this.input.scenarioId, events: this.events });
    }
    return this.state;
  }

  /** What the retention workflow of this scenario is started with, its period counted from `endedAt`. */
  private retentionInput(endedAt: string): RetentionInput {
    const { input } = this;
    return {
      scenarioId: input.scenarioId,
      correlationId: input.correlationId,
      tenant: input.tenant,
      subject: input.subject,
      plan: this.state.plan,
      retentionDays: this.retentionDays,
      endedAt,
    };
  }

  /**
   * A host activity, given up when its host is reported lost: no worker polls a dead host's queue,
   * so the activity would wait there for as long as the host stays away. Costs no command unless
   * the host is lost.
   */
  private async onHost<T>(activity: Promise<T>): Promise<T> {
    const lost = Symbol('lost');
    const first = await Promise.race([activity, condition(() => this.lost !== undefined).then(() => lost)]);
    if (first === lost) throw this.hostLostFailure();
    return first as T;
  }

  /** The failure a lost host ends the scenario with, and the record of what it left behind. */
  private hostLostFailure(): ApplicationFailure {
    const lost = this.lost!;
    this.audit('arbiter', 'host.lost', {
      hostId: lost.hostId,
      lastReportAt: lost.lastReportAt,
      // What could be collected: nothing from the host, which is gone with its engine.
      evidence: this.collecting
        ? 'unknown: the host was collecting the evidence (and scoring) when it stopped answering; what it stored before is kept, no verdict is issued'
        : 'none collected: the host\'s worker and engine stopped answering',
      ...(this.launched ? { left: this.launched.containerName } : this.launchingOn ? { left: 'a launch under way' } : {}),
    });
    return ApplicationFailure.nonRetryable(hostLostReason(lost), FailureTypes.hostLost);
  }

  /** Multi-service scenarios are torn down by label: every container of the scenario on its host. */
  private teardownRequest(containerName: string): { containerName: string; scenarioId?: string } {
    return this.state.services ? { containerName, scenarioId: this.input.scenarioId } : { containerName };
  }

  // ---- what readers see ------------------------------------------------------------------------

  // What the API reads: the state, in the memo.
  private publish(): void {
    if (this.stateInMemo) upsertMemo({ [MEMO.scenarioState]: this.state });
  }

  // What the Temporal UI shows: filterable attributes and a one-line "where is it now".
  private showState(): void {
    upsertSearchAttributes(currentSearchAttributes(this.state));
    this.publish();
    setCurrentDetails(currentDetails(this.state));
  }

  private audit(actor: string, event: string, data?: Record<string, unknown>): void {
    this.events.push({ time: new Date().toISOString(), actor, event, ...(data ? { data } : {}) });
  }

  private setStatus(status: ScenarioStatus, reason?: string): void {
    const { state } = this;
    state.status = status;
    state.updatedAt = new Date().toISOString();
    if (reason !== undefined) state.reason = reason;
    this.audit('arbiter', `status.${status}`, reason ? { reason } : undefined);
    this.showState();
    log.info('scenario status', { scenarioId: this.input.scenarioId, correlationId: this.input.correlationId, status, reason });
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
