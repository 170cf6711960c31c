// Workflow races on stub activities in the time-skipping environment: which of a completion, the
// container exiting, the TTL and a cancel wins, and what each leaves behind. No Docker, no policy,
// no signer: every activity is a stub that records its call, and the slow ones wait on a gate the
// test opens, so each race is staged in a known order instead of hoped for.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { Client, WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import proto from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { AuditEvent } from '../../lib/audit-chain.ts';
import { registerSearchAttributes } from '../../infra/search-attributes.ts';
import { tmpdir } from 'node:os';
import type Docker from 'dockerode';
import { keepHeartbeating } from '../../activities/heartbeat.ts';
import { createAdmitActivities } from '../../activities/admit.ts';
import { createConcludeActivities } from '../../activities/conclude.ts';
import type { SealRequest } from '../../activities/seal-scenario.ts';
import { bundleWorkflows } from '../../workers/workers.ts';
import type { scenarioWorkflow } from '../../workflows/scenario.ts';
import { completeUpdate, containerExitedSignal, hostLostReason, hostLostSignal, statusQuery, type CompletionRequest, type ScenarioInput, type ScenarioState } from '../../contract/scenario.ts';
import { FailureTypes } from '../../contract/failures.ts';
import { hostTaskQueue, MAIN_TASK_QUEUE, SCENARIO_WORKFLOW_TYPE, SEARCH_ATTRIBUTES } from '../../contract/queues.ts';
import { releaseLeaseSignal } from '../../contract/quota.ts';
import { tools, waitFor } from '../support/harness.ts';
import { scenarioInput } from '../support/scenario-input.ts';

const { temporal } = proto;
const HOST = 'races';
const TTL_SECONDS = 3600;

interface Gate { opened: Promise<void>; open(): void }
function gate(): Gate {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => { open = resolve; });
  return { opened, open };
}

interface Call { name: string; scenarioId: string; arg: Record<string, unknown> }

/**
 * One test's activities. `launch` and `evidence` are gates: closed, the activity waits until the
 * test opens it (or the worker shuts down); `launchStarted` and `evidenceStarted` open once they run.
 */
function stubs(closed: { launch?: boolean; evidence?: boolean } = {}) {
  const calls: Call[] = [];
  const launch = gate();
  const evidence = gate();
  const launchStarted = gate();
  const evidenceStarted = gate();
  if (!closed.launch) launch.open();
  if (!closed.evidence) evidence.open();
  const record = (name: string, arg: Record<string, unknown>, scenarioId = String(arg.scenarioId)) => {
    calls.push({ name, scenarioId, arg });
  };
  // A worker shutting down cancels its activities: a test that failed half-way does not hang on a gate.
  const until = (g: Gate) => Promise.race([g.opened, Context.current().cancelled]);

  const main = {
    async checkEntitlements(input: ScenarioInput) {
      record('checkEntitlements', {}, input.scenarioId);
      return {
        plan: 'free', source: 'sat', claimedPlan: input.plan,
        limits: { memoryMb: 256, cpus: 1, pids: 64, ttlSeconds: TTL_SECONDS },
        retentionDays: 1,
        template: { id: input.template.id, version: input.template.version },
        templateDigest: 'a'.repeat(64),
        templatePublished: true,
      };
    },
    async evaluatePolicy(req: { scenarioId: string }) {
      record('evaluatePolicy', req);
      return { allow: true, reasons: [], policySha256: 'b'.repeat(64) };
    },
    async pickHost(scenarioId: string) {
      record('pickHost', {}, scenarioId);
      return { hostId: HOST, taskQueue: hostTaskQueue(HOST) };
    },
    async writeAudit(req: { scenarioId: string; events: AuditEvent[] }) {
      record('writeAudit', req);
      return { head: 'c'.repeat(64) };
    },
    async signVerdict(req: { input: ScenarioInput; outcome: string; events: AuditEvent[] }) {
      record('signVerdict', req, req.input.scenarioId);
      return { keyId: 'test-key', auditHead: 'c'.repeat(64), statementSha256: 'd'.repeat(64) };
    },
  };
  // Admission as one local activity, over the stubs above (the real composition).
  const admit = createAdmitActivities(main as unknown as Parameters<typeof createAdmitActivities>[0]);
  // The seal signs (the stub) and says whom it released the lease to; it starts no retention here.
  const seal = {
    async sealScenario(req: SealRequest) {
      record('sealScenario', { quotaWorkflowId: req.quotaWorkflowId }, req.retention.scenarioId);
      return main.signVerdict(req.sign);
    },
    async endScenario(req: { scenarioId: string; events: AuditEvent[]; quotaWorkflowId?: string }) {
      record('endScenario', { quotaWorkflowId: req.quotaWorkflowId }, req.scenarioId);
      return main.writeAudit(req);
    },
  };

  // Wrapped as the real ones are, so a gated stub stays alive past the heartbeat timeout.
  const host = keepHeartbeating({
    async launchContainer(req: { scenarioId: string }) {
      record('launchContainer', req);
      launchStarted.open();
      await until(launch);
      return { containerName: `${req.scenarioId}-main`, containerId: 'e'.repeat(64), imageId: 'sha256:image', adopted: false };
    },
    async collectEvidence(req: { scenarioId: string; containerName: string; completion: CompletionRequest | null }) {
      record('collectEvidence', req);
      evidenceStarted.open();
      await until(evidence);
      return { manifestSha256: 'f'.repeat(64), files: 1 };
    },
    async teardownContainer(req: { containerName?: string; scenarioId?: string }) {
      record('teardownContainer', req, req.scenarioId ?? req.containerName?.replace(/-main$/, ''));
    },
    async score(req: { scenarioId: string }) {
      record('score', req);
      return { score: { score: 1, maxScore: 1, passed: true, checks: [] }, scoreSha256: '0'.repeat(64) };
    },
  });
  // Evidence, teardown and scoring as one host activity, over the stubs above (the real composition).
  const conclude = keepHeartbeating(createConcludeActivities({ docker: {} as Docker, storageDir: tmpdir(), ...(host as unknown as Omit<Parameters<typeof createConcludeActivities>[0], 'docker' | 'storageDir'>) }));

  return { main: { ...main, ...admit, ...seal }, host: { ...host, ...conclude }, calls, launch, evidence, launchStarted, evidenceStarted };
}
type Stubs = ReturnType<typeof stubs>;

describe('scenario workflow races (time-skipping, stub activities)', () => {
  let env: TestWorkflowEnvironment;
  let client: Client;
  let bundle: { code: string };

  before(async () => {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: tools().TEMPORAL_TEST_SERVER_BIN } } });
    await registerSearchAttributes(env.connection, env.namespace ?? 'default', SEARCH_ATTRIBUTES);
    // Not env.client: awaiting its results lets the server skip to any timer, a scored scenario's
    // one-day retention among them, and this server then kept its clock locked for the rest of the
    // file (seen after the first scored test). Here time moves only where a test says so.
    client = new Client({ connection: env.connection, namespace: env.namespace ?? 'default' });
    bundle = await bundleWorkflows(new DefaultLogger('WARN'));
  });

  after(async () => {
    await env?.teardown();
  });

  /** A main and a host worker on the stubs, both running until `body` settles. */
  async function withWorkers<R>(s: Stubs, body: () => Promise<R>): Promise<R> {
    const main = await Worker.create({ connection: env.nativeConnection, taskQueue: MAIN_TASK_QUEUE, workflowBundle: bundle, activities: s.main });
    const host = await Worker.create({ connection: env.nativeConnection, taskQueue: hostTaskQueue(HOST), activities: s.host });
    return main.runUntil(host.runUntil(body));
  }

  function input(): ScenarioInput {
    const args = scenarioInput({ retentionDays: 1 });
    return { ...args, quotaWorkflowId: `quota-races-${args.scenarioId}` };
  }

  async function start(args: ScenarioInput): Promise<WorkflowHandle<typeof scenarioWorkflow>> {
    return client.workflow.start<typeof scenarioWorkflow>(SCENARIO_WORKFLOW_TYPE, { taskQueue: MAIN_TASK_QUEUE, workflowId: args.scenarioId, args: [args] });
  }

  async function running(handle: WorkflowHandle<typeof scenarioWorkflow>): Promise<ScenarioState> {
    return waitFor('the scenario to be running', async () => {
      const s = await handle.query(statusQuery);
      return s.status === 'running' ? s : undefined;
    });
  }

  const ran = (s: Stubs, args: ScenarioInput, name: string) => s.calls.filter((c) => c.scenarioId === args.scenarioId && c.name === name);
  /** The audit events the scenario handed over when it ended: to the verdict, or to the audit log. */
  function auditOf(s: Stubs, args: ScenarioInput): string[] {
    const written = [...ran(s, args, 'signVerdict'), ...ran(s, args, 'writeAudit')];
    // A local activity runs at least once: a workflow task that did not complete (an update
    // rejected meanwhile, an eviction) runs it again. Every run must write the same events; the
    // run of a retried task stamps the events that task records with its own, later, time (seen
    // under load: `container.removed` and `status.failed` 92 ms apart), so times are left out.
    assert.ok(written.length >= 1, 'the audit log was written');
    const lists = written.map((w) => JSON.stringify((w.arg.events as AuditEvent[]).map(({ time: _time, ...rest }) => rest)));
    assert.equal(new Set(lists).size, 1, 'every write of the audit log holds the same events');
    assert.equal(ran(s, args, 'signVerdict').length * ran(s, args, 'writeAudit').length, 0, 'signed or written, not both');
    return (written[0]!.arg.events as AuditEvent[]).map((e) => e.event);
  }

  /**
   * The scenario released its lease once: through its last local activity (sealScenario,
   * endScenario), or, in histories from before them, by signalling its quota entity from the workflow.
   */
  async function assertLeaseReleased(handle: WorkflowHandle, args: ScenarioInput, s: Stubs) {
    const { events } = await handle.fetchHistory();
    const signalled = (events ?? [])
      .map((e) => e.signalExternalWorkflowExecutionInitiatedEventAttributes)
      .filter((a) => a?.signalName === releaseLeaseSignal.name && a.workflowExecution?.workflowId === args.quotaWorkflowId);
    const sealed = [...ran(s, args, 'sealScenario'), ...ran(s, args, 'endScenario')].filter((c) => c.arg.quotaWorkflowId === args.quotaWorkflowId);
    assert.equal(signalled.length + Math.min(sealed.length, 1), 1, 'one lease release to the quota entity');
  }

  const complete = (handle: WorkflowHandle, req: CompletionRequest) => handle.executeUpdate(completeUpdate, { args: [req] });
  const success: CompletionRequest = { outcome: 'success', submission: { answer: 'hello' }, actor: 'scenario-host' };

  it('when a completion arrives and then the container exits, the completion wins and the scenario is scored', async () => {
    const s = stubs({ evidence: true });
    const args = input();

    const final = await withWorkers(s, async () => {
      const handle = await start(args);
      await running(handle);
      assert.deepEqual(await complete(handle, success), { status: 'running' });
      // The exit lands while evidence is collected, the scenario still "running": too late to count.
      await s.evidenceStarted.opened;
      await handle.signal(containerExitedSignal, { containerName: `${args.scenarioId}-main`, exitCode: 0 });
      s.evidence.open();
      const state = await handle.result();
      await assertLeaseReleased(handle, args, s);
      return state;
    });

    assert.equal(final.status, 'scored');
    assert.deepEqual(final.score, { score: 1, maxScore: 1, passed: true });
    assert.deepEqual(ran(s, args, 'collectEvidence').map((c) => c.arg.completion), [success], 'the evidence holds the completion');
    assert.equal(ran(s, args, 'teardownContainer').length, 1, 'torn down once');
    assert.equal(ran(s, args, 'score').length, 1);
    const [signed] = ran(s, args, 'signVerdict');
    assert.equal(signed?.arg.outcome, 'success');
    const audit = auditOf(s, args);
    // The wait was over when the exit landed: it changes nothing, and is not part of the record.
    assert.ok(!audit.includes('container.exited'), `the late exit is not recorded: ${audit.join(', ')}`);
    assert.equal(audit.at(-1), 'status.scored');
  });

  it('when the host is lost while it collects the evidence after a completion, the scenario fails host_lost and its audit says the evidence is unknown, not absent', async () => {
    const s = stubs({ evidence: true });
    const args = input();
    const lost = { hostId: HOST, lastReportAt: '2026-01-01T00:00:00.000Z' };

    const final = await withWorkers(s, async () => {
      const handle = await start(args);
      await running(handle);
      assert.deepEqual(await complete(handle, success), { status: 'running' });
      await s.evidenceStarted.opened;
      await handle.signal(hostLostSignal, lost);
      const state = await handle.result();
      await assertLeaseReleased(handle, args, s);
      s.evidence.open();
      return state;
    });

    assert.equal(final.status, 'failed');
    assert.equal(final.reason, hostLostReason(lost));
    assert.equal(ran(s, args, 'signVerdict').length, 0, 'no verdict');
    const written = [...ran(s, args, 'writeAudit')].map((w) => w.arg.events as AuditEvent[]);
    const entry = written[0]?.find((e) => e.event === 'host.lost');
    assert.ok(entry, `the audit log records the loss: ${JSON.stringify(written[0]?.map((e) => e.event))}`);
    assert.match(String(entry.data?.evidence), /^unknown: the host was collecting the evidence/);
    assert.equal(entry.data?.left, `${args.scenarioId}-main`);
    assert.equal(auditOf(s, args).at(-1), 'status.failed');
  });

  it('when the container exits before any completion, the scenario fails with the exit code and nothing is scored', async () => {
    const s = stubs();
    const args = input();

    const final = await withWorkers(s, async () => {
      const handle = await start(args);
      await running(handle);
      await handle.signal(containerExitedSignal, { containerName: `${args.scenarioId}-main`, exitCode: 137 });
      const state = await handle.result();
      await assertLeaseReleased(handle, args, s);
      return state;
    });

    assert.equal(final.status, 'failed');
    assert.equal(final.reason, 'environment_reset: service "main" exited (code 137) before completion');
    assert.deepEqual(ran(s, args, 'collectEvidence').map((c) => c.arg.completion), [null]);
    assert.equal(ran(s, args, 'teardownContainer').length, 1, 'torn down once');
    assert.equal(ran(s, args, 'score').length, 0, 'not scored');
    assert.equal(ran(s, args, 'signVerdict').length, 0, 'no verdict');
    assert.deepEqual(auditOf(s, args).slice(-3), ['container.exited', 'container.removed', 'status.failed']);
  });

  it('when a completion arrives after the container exited, while its evidence is collected, it is refused as not running and the scenario fails without a score', async () => {
    const s = stubs();
    const args = input();

    const { final, refusal } = await withWorkers(s, async () => {
      const handle = await start(args);
      await running(handle);
      await handle.signal(containerExitedSignal, { containerName: `${args.scenarioId}-main`, exitCode: 3 });
      await s.evidenceStarted.opened;
      // Still "running" by its status, but its evidence is being taken without any completion.
      const refusal = await complete(handle, success).then(() => undefined, (err: unknown) => err);
      s.evidence.open();
      return { final: await handle.result(), refusal };
    });

    assert.ok(refusal instanceof WorkflowUpdateFailedError, `refused: ${String(refusal)}`);
    assert.equal((refusal.cause as ApplicationFailure).type, FailureTypes.notRunning);
    assert.equal(final.status, 'failed');
    assert.match(final.reason ?? '', /^environment_reset: service "main" exited \(code 3\) before completion$/);
    assert.deepEqual(ran(s, args, 'collectEvidence').map((c) => c.arg.completion), [null]);
    assert.equal(ran(s, args, 'score').length, 0, 'not scored');
    assert.ok(!auditOf(s, args).includes('completion.accepted'));
  });

  it('when the TTL passes with neither a completion nor an exit, the scenario times out and nothing is scored', async () => {
    const s = stubs();
    const args = input();

    const final = await withWorkers(s, async () => {
      const handle = await start(args);
      await running(handle);
      await env.sleep(TTL_SECONDS * 1000);
      const state = await handle.result();
      await assertLeaseReleased(handle, args, s);
      return { state, startedAt: (await handle.describe()).startTime };
    });

    assert.equal(final.state.status, 'timed_out');
    assert.equal(final.state.reason, `no completion within ${TTL_SECONDS}s`);
    const waited = Date.parse(final.state.updatedAt) - final.startedAt.getTime();
    assert.ok(waited >= TTL_SECONDS * 1000, `workflow time passed the TTL (${waited} ms)`);
    assert.deepEqual(ran(s, args, 'collectEvidence').map((c) => c.arg.completion), [null], 'evidence is collected before teardown');
    assert.equal(ran(s, args, 'teardownContainer').length, 1, 'torn down once');
    assert.equal(ran(s, args, 'score').length, 0, 'not scored');
    assert.equal(auditOf(s, args).at(-1), 'status.timed_out');
  });

  it('when a cancel arrives while the launch is under way, the scenario is cancelled and the container is torn down once the launch returns', async () => {
    const s = stubs({ launch: true });
    const args = input();

    const final = await withWorkers(s, async () => {
      const handle = await start(args);
      await s.launchStarted.opened;
      // The cancel is in history before the launch's result, so the workflow sees it first.
      await handle.cancel();
      assert.equal(ran(s, args, 'teardownContainer').length, 0, 'nothing is torn down while the launch runs');
      s.launch.open();
      const err = await handle.result().then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure, `the workflow closed as cancelled: ${String(err)}`);
      await assertLeaseReleased(handle, args, s);
      return handle.query(statusQuery);
    });

    assert.equal(final.status, 'cancelled');
    assert.equal(final.reason, 'cancelled by request');
    assert.deepEqual(ran(s, args, 'teardownContainer').map((c) => c.arg.containerName), [`${args.scenarioId}-main`], 'the launched container is torn down, once');
    assert.equal(ran(s, args, 'collectEvidence').length, 0);
    assert.equal(ran(s, args, 'score').length, 0, 'not scored');
    assert.equal(auditOf(s, args).at(-1), 'status.cancelled');
  });

  it('when the same completion arrives twice, both are answered alike and it is accepted once', async () => {
    const s = stubs({ evidence: true });
    const args = input();

    const final = await withWorkers(s, async () => {
      const handle = await start(args);
      await running(handle);
      const first = await complete(handle, success);
      const second = await complete(handle, { ...success, submission: { answer: 'hello' } });
      assert.deepEqual(second, first);
      assert.deepEqual(first, { status: 'running' });
      s.evidence.open();
      const state = await handle.result();
      await assertLeaseReleased(handle, args, s);
      return state;
    });

    assert.equal(final.status, 'scored');
    assert.equal(auditOf(s, args).filter((e) => e === 'completion.accepted').length, 1, 'one completion audit entry');
    assert.equal(ran(s, args, 'score').length, 1, 'scored once');
    assert.equal(ran(s, args, 'teardownContainer').length, 1, 'torn down once');
  });

  it('when a different completion follows an accepted one, it is refused as conflicting and the first one is scored', async () => {
    const s = stubs({ evidence: true });
    const args = input();

    const final = await withWorkers(s, async () => {
      const handle = await start(args);
      await running(handle);
      await complete(handle, success);
      const err = await complete(handle, { outcome: 'failure', submission: { answer: 'goodbye' }, actor: 'operator:olga' }).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof WorkflowUpdateFailedError, `refused: ${String(err)}`);
      assert.ok(err.cause instanceof ApplicationFailure);
      assert.equal(err.cause.type, FailureTypes.conflictingCompletion);
      assert.equal(err.cause.message, 'a different completion was already accepted');
      s.evidence.open();
      const state = await handle.result();
      await assertLeaseReleased(handle, args, s);
      return state;
    });

    assert.equal(final.status, 'scored');
    assert.deepEqual(ran(s, args, 'collectEvidence').map((c) => c.arg.completion), [success], 'the first completion is the evidence');
    assert.equal(ran(s, args, 'signVerdict')[0]?.arg.outcome, 'success', 'the first completion is the verdict');
    assert.equal(auditOf(s, args).filter((e) => e === 'completion.accepted').length, 1);
    assert.equal(ran(s, args, 'teardownContainer').length, 1, 'torn down once');
  });

  it('when a completion arrives before the scenario is running, it is refused and a later one is scored', async () => {
    const s = stubs({ launch: true });
    const args = input();

    const final = await withWorkers(s, async () => {
      const handle = await start(args);
      await s.launchStarted.opened;
      const err = await complete(handle, { ...success, outcome: 'early' }).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure, `refused: ${String(err)}`);
      assert.equal(err.cause.type, FailureTypes.notRunning);
      assert.equal(err.cause.message, 'scenario is launching, not running');
      s.launch.open();
      await running(handle);
      await complete(handle, success);
      const state = await handle.result();
      await assertLeaseReleased(handle, args, s);
      return state;
    });

    assert.equal(final.status, 'scored');
    assert.equal(ran(s, args, 'signVerdict')[0]?.arg.outcome, 'success', 'the refused completion left no trace in the verdict');
    assert.equal(auditOf(s, args).filter((e) => e === 'completion.accepted').length, 1);
    assert.equal(ran(s, args, 'teardownContainer').length, 1, 'torn down once');
  });

  it('when a completion holds a number JSON cannot represent, the validator refuses it and the scenario completes normally afterwards', async () => {
    const s = stubs();
    const args = input();

    const final = await withWorkers(s, async () => {
      const handle = await start(args);
      await running(handle);
      // Raw JSON text, as the Temporal CLI or UI would send it: the client's own converter would
      // turn Infinity into null before it left, and the workflow parses 1e400 into Infinity.
      const { outcome } = await client.workflowService.updateWorkflowExecution({
        namespace: env.namespace ?? 'default',
        workflowExecution: { workflowId: args.scenarioId },
        waitPolicy: { lifecycleStage: temporal.api.enums.v1.UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED },
        request: {
          meta: { updateId: randomUUID(), identity: 'races-test' },
          input: {
            name: completeUpdate.name,
            args: { payloads: [{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('{"outcome":"success","submission":{"n":1e400},"actor":"operator:cli"}') }] },
          },
        },
      });
      assert.equal(outcome?.failure?.applicationFailureInfo?.type, FailureTypes.invalidCompletion, JSON.stringify(outcome));
      assert.match(outcome?.failure?.message ?? '', /JSON cannot represent \(at \/n\)/);
      assert.equal((await handle.query(statusQuery)).status, 'running', 'the scenario keeps running');
      assert.equal((await handle.query(statusQuery)).completionDigest, undefined, 'nothing was accepted');
      await complete(handle, success);
      const state = await handle.result();
      await assertLeaseReleased(handle, args, s);
      return state;
    });

    assert.equal(final.status, 'scored');
    assert.deepEqual(ran(s, args, 'collectEvidence').map((c) => c.arg.completion), [success]);
    assert.equal(auditOf(s, args).filter((e) => e === 'completion.accepted').length, 1);
    assert.equal(ran(s, args, 'teardownContainer').length, 1, 'torn down once');
  });
});
