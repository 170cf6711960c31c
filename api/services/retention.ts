// Retention as the API sees it: holds and releases go to an ended scenario's retention workflow as
// signals; its state is where "expired" is read from (the scenario workflow is closed by then and
// its own status stays what it ended as: scored, denied, failed, timed_out or cancelled); the
// sweep catches up what the timers did not cover.
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { ConflictError, NotFoundError } from '../../lib/errors.ts';
import type { Plans } from '../../infra/plans.ts';
import { readMemo, readState } from '../../infra/read-model.ts';
import { resultsKey, RESULTS } from '../../infra/results.ts';
import type { ArtifactStore } from '../../infra/artifact-store.ts';
import type { DsseEnvelope, Statement } from '../../infra/verdict.ts';
import { tombstoneKey } from '../../infra/retention-storage.ts';
import { retentionDeadline, retentionStart } from '../../lib/retention-deadline.ts';
import { verifyChainText, type AuditEntry } from '../../lib/audit-chain.ts';
import { auditedEnd } from '../../lib/audited-end.ts';
import { expireUpdate, holdSignal, releaseSignal, retentionQuery, retentionWorkflowId, type RetentionInput, type RetentionState, type Tombstone } from '../../contract/retention.ts';
import { MAIN_TASK_QUEUE, MEMO, RETENTION_WORKFLOW_TYPE } from '../../contract/queues.ts';
import { RetentionFailureTypes } from '../../contract/failures.ts';
import { SCENARIO_ID_PATTERN, statusQuery, TERMINAL_STATUSES, type ScenarioState, type ScenarioStatus } from '../../contract/scenario.ts';
import { realService } from './index.ts';

export interface RetentionView { status: RetentionState['status']; deleteAfter: string; held: boolean; hold?: RetentionState['hold']; deletedAt?: string }
export interface SweepResult { dryRun: boolean; deleted: string[]; held: string[]; kept: string[] }

/** The current time the sweep judges deadlines by: the wall clock, or a test server's clock. */
export type Clock = () => Promise<number>;

export class RetentionService {
  constructor(
    private readonly client: Client,
    private readonly store: ArtifactStore,
    private readonly plans: Plans,
    private readonly now: Clock = async () => Date.now(),
  ) {}

  /** The retention workflow's state, or undefined when the scenario has none (not ended, or ended before every end was retained and not swept since). */
  async of(scenarioId: string): Promise<RetentionState | undefined> {
    try {
      return await readState(this.client, retentionWorkflowId(scenarioId), MEMO.retentionState, retentionQuery);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  /**
   * An ended scenario whose artifacts retention deleted reads "expired"; before, its retention is
   * shown beside the status it ended with. A scenario never scored keeps, in its reason, how it ended.
   */
  async view<S extends ScenarioState>(state: S): Promise<S & { retention?: RetentionView }> {
    if (!RETAINED_ENDS.includes(state.status)) return state;
    let r: RetentionState | undefined;
    try {
      r = await this.of(state.scenarioId);
    } catch (err) {
      // The workflow cannot answer right now (no worker to replay a closed one, say): the
      // tombstone in the store still tells an expired scenario from a retained one.
      const tomb = await this.store.get(tombstoneKey(state.scenarioId)).catch(() => undefined);
      if (!tomb) throw err;
      const { deletedAt } = JSON.parse(tomb.toString('utf8')) as Tombstone;
      return { ...state, status: 'expired', updatedAt: deletedAt, reason: expiredReason(state) };
    }
    if (!r) return state;
    const retention: RetentionView = { status: r.status, deleteAfter: r.deleteAfter, held: r.held, ...(r.hold ? { hold: r.hold } : {}), ...(r.deletedAt ? { deletedAt: r.deletedAt } : {}) };
    if (r.status !== 'expired') return { ...state, retention };
    return { ...state, status: 'expired', updatedAt: r.deletedAt ?? state.updatedAt, reason: expiredReason(state), retention };
  }

  async hold(scenarioId: string, actor: string, reason?: string): Promise<void> {
    await this.signal(scenarioId, 'hold', { actor, ...(reason ? { reason } : {}) });
  }

  async release(scenarioId: string, actor: string, reason?: string): Promise<void> {
    await this.signal(scenarioId, 'release', { actor, ...(reason ? { reason } : {}) });
  }

  private async signal(scenarioId: string, what: 'hold' | 'release', req: { actor: string; reason?: string }): Promise<void> {
    let scenario: ScenarioState;
    try {
      // A scored scenario is closed: its memo answers without a worker replaying it.
      scenario = await readState(this.client, scenarioId, MEMO.scenarioState, statusQuery);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new NotFoundError(`scenario ${scenarioId} does not exist`);
      throw err;
    }
    if (!RETAINED_ENDS.includes(scenario.status)) throw new ConflictError(`scenario is ${scenario.status}: its artifacts are retained once it ends`, 'not_retained');
    const r = await this.of(scenarioId);
    // Ended before every end was retained: the sweep starts its retention.
    if (!r) throw new ConflictError(`scenario ended ${scenario.status} and its retention is not running: run a retention sweep`, 'not_retained');
    if (r.status === 'expired') throw new ConflictError('the artifacts were already deleted by retention', 'expired');
    const handle = this.client.workflow.getHandle(retentionWorkflowId(scenarioId));
    try {
      await handle.signal(what === 'hold' ? holdSignal : releaseSignal, req);
    } catch (err) {
      // The retention workflow ended without deleting (terminated by hand): a sweep restarts it.
      if (err instanceof WorkflowNotFoundError) throw new ConflictError('retention of this scenario is not running: run a retention sweep', 'not_retained');
      throw err;
    }
  }

  /**
   * Every ended scenario whose artifacts are still there (a stored verdict, or the audit log of a
   * scenario that ended without one): held ones are listed and left; due ones are deleted (listed
   * only, with dryRun); the rest are kept. One without a running retention workflow (terminated
   * from the UI, storage restored from a backup, or ended before every end was retained) gets one,
   * timed from its end (a verdict's issue time, else the end its audit log records) and its plan's
   * retention days.
   */
  async sweep(dryRun: boolean, actor: string, correlationId: string): Promise<SweepResult> {
    const result: SweepResult = { dryRun, deleted: [], held: [], kept: [] };
    const now = await this.now();
    for (const id of await this.endedScenarios()) {
      const handle = this.client.workflow.getHandle(retentionWorkflowId(id));
      const read = await readMemo<RetentionState>(this.client, retentionWorkflowId(id), MEMO.retentionState).catch((err: unknown) => {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      });
      if (read?.description.status.name === 'RUNNING') {
        const r = read.value ?? await handle.query(retentionQuery);
        if (r.held) result.held.push(id);
        else if (Date.parse(r.deleteAfter) > now) result.kept.push(id);
        else if (dryRun) result.deleted.push(id);
        else result[await this.expireNow(id, actor)].push(id);
        continue;
      }
      const input = await this.orphanInput(id, correlationId);
      // Not ended after all (its log ends in "scored" but its verdict is not written yet): the
      // scenario's own seal is still under way, and it starts the retention.
      if (input === 'not-ended') continue;
      if (!input) {
        result.kept.push(id);
        continue;
      }
      const due = retentionDeadline(retentionStart(input), input.retentionDays) <= now;
      result[due ? 'deleted' : 'kept'].push(id);
      if (dryRun) continue;
      const started = await this.client.workflow.start(RETENTION_WORKFLOW_TYPE, {
        taskQueue: MAIN_TASK_QUEUE,
        workflowId: retentionWorkflowId(id),
        args: [input],
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      });
      if (due) await started.result();
    }
    return result;
  }

  private async expireNow(id: string, actor: string): Promise<'deleted' | 'held' | 'kept'> {
    try {
      await this.client.workflow.getHandle(retentionWorkflowId(id)).executeUpdate(expireUpdate, { args: [{ actor }] });
      return 'deleted';
    } catch (err) {
      // A hold or the clocks disagreeing between the query and the update: the workflow decides.
      if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
        if (err.cause.type === RetentionFailureTypes.held) return 'held';
        if (err.cause.type === RetentionFailureTypes.notDue) return 'kept';
      }
      throw err;
    }
  }

  /**
   * Scenario ids with no tombstone and a verdict or an audit log in the store. The audit log is
   * written as a scenario ends (a running one has none yet), so these are the ended ones, and
   * those whose seal is under way.
   */
  private async endedScenarios(): Promise<string[]> {
    const pattern = new RegExp(SCENARIO_ID_PATTERN);
    const ids: string[] = [];
    for (const id of (await this.store.children('scenarios')).filter((n) => pattern.test(n))) {
      const has = (key: string) => this.store.exists(key);
      if ((await has(resultsKey(id, RESULTS.envelope)) || await has(resultsKey(id, RESULTS.audit))) && !await has(tombstoneKey(id))) ids.push(id);
    }
    return ids;
  }

  /**
   * What a retention workflow needs: a scored scenario's from its signed statement, any other's
   * from its audit log. Undefined when they cannot be read, the log's chain is broken or the plan
   * is unknown (never guess a deadline: the artifacts are kept); 'not-ended' when the log records
   * no end without a verdict.
   */
  private async orphanInput(id: string, correlationId: string): Promise<RetentionInput | 'not-ended' | undefined> {
    if (!await this.store.exists(resultsKey(id, RESULTS.envelope))) return this.unscoredInput(id, correlationId);
    try {
      const envelope = JSON.parse((await this.store.get(resultsKey(id, RESULTS.envelope)))?.toString('utf8') ?? '') as DsseEnvelope;
      const p = (JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as Statement).predicate;
      const plan = this.plans[p.plan];
      // Never guess a deadline: an unknown plan or a bad date keeps the artifacts.
      if (!plan || p.scenarioId !== id || Number.isNaN(Date.parse(p.issuedAt))) return undefined;
      return { scenarioId: id, correlationId, tenant: p.tenant, subject: p.subject, plan: p.plan, retentionDays: plan.retentionDays, endedAt: p.issuedAt, scoredAt: p.issuedAt };
    } catch {
      return undefined;
    }
  }

  private async unscoredInput(id: string, correlationId: string): Promise<RetentionInput | 'not-ended' | undefined> {
    let entries: AuditEntry[];
    try {
      const text = (await this.store.get(resultsKey(id, RESULTS.audit)))?.toString('utf8');
      if (text === undefined || !verifyChainText(text).ok) return undefined;
      entries = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEntry);
    } catch {
      return undefined;
    }
    const end = auditedEnd(entries);
    if (!end || end.status === 'scored') return 'not-ended';
    const plan = end.plan !== undefined ? this.plans[end.plan] : undefined;
    if (!plan || end.plan === undefined || Number.isNaN(Date.parse(end.at))) return undefined;
    // The audit log does not name the tenant: the scenario's read model does while Temporal keeps it.
    const scenario = await readMemo<ScenarioState>(this.client, id, MEMO.scenarioState).then((r) => r.value, () => undefined);
    return {
      scenarioId: id,
      correlationId,
      tenant: scenario?.tenant ?? '',
      subject: scenario?.subject ?? end.subject ?? '',
      plan: end.plan,
      retentionDays: plan.retentionDays,
      endedAt: end.at,
    };
  }
}

/** The statuses a scenario ends with, each retained: every terminal one but retention's own. */
const RETAINED_ENDS: readonly ScenarioStatus[] = TERMINAL_STATUSES.filter((s) => s !== 'expired');

/** An expired scenario's reason; one never scored keeps how it ended, which "expired" replaces. */
function expiredReason(state: ScenarioState): string {
  if (state.status === 'scored') return 'artifacts deleted by retention';
  return `artifacts deleted by retention; it had ended ${state.status}${state.reason ? `: ${state.reason}` : ''}`;
}

export interface RetentionServiceOptions { temporal: Client; store: ArtifactStore; plans: Plans; clock?: Clock }

export const retentionService = realService('retention', (app, opts: RetentionServiceOptions) => new RetentionService(opts.temporal, opts.store, opts.plans, opts.clock));
