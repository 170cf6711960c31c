// The scenario use cases behind the routes: spawn, read, complete, verdict. Temporal is the
// only store of a scenario's state; files under storage/ hold its artifacts.
import {
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
  type WorkflowExecutionDescription,
} from '@temporalio/client';
import { completionDigest, isSameCompletion } from '../../lib/completion-digest.ts';
import { ConflictError, httpErrorOf, NotFoundError, UnavailableError } from '../../lib/errors.ts';
import { readMemo } from '../../infra/read-model.ts';
import { resultsKey, RESULTS } from '../../infra/results.ts';
import type { ArtifactStore } from '../../infra/artifact-store.ts';
import type { DsseEnvelope, Statement } from '../../infra/verdict.ts';
import { admissionUpdate, completeUpdate, initialState, statusQuery, type AdmissionResult, type CompletionAck, type CompletionRequest, type ScenarioInput, type ScenarioState, type ScenarioStatus } from '../../contract/scenario.ts';
import { MAIN_TASK_QUEUE, MEMO, SCENARIO_WORKFLOW_TYPE, SearchAttributeKeys } from '../../contract/queues.ts';
import type { scenarioWorkflow } from '../../workflows/scenario.ts';
import { initialSearchAttributes, staticDetails, staticSummary } from '../../lib/operator-view.ts';
import type { RetentionService } from './retention.ts';
import { tombstoneKey } from '../../infra/retention-storage.ts';
import type { Tombstone } from '../../contract/retention.ts';
import { realService } from './index.ts';

/** How long a status read of a workflow without a read model waits for a worker before falling back to visibility. */
const QUERY_DEADLINE_MS = 5_000;
/** How long a completion waits for a worker to take it; resending is safe (same update id). */
const UPDATE_DEADLINE_MS = 15_000;

/** How long a spawn waits for admission (entitlements + policy) before answering "pending". */
const ADMISSION_WAIT_MS = 10_000;

export class ScenarioService {
  constructor(
    private readonly client: Client,
    private readonly store: ArtifactStore,
    /** consulted for ended scenarios: "expired" lives in the retention workflow, not here */
    private readonly retention?: RetentionService,
  ) {}

  /** Starts the scenario and waits (bounded) for its admission decision. */
  async spawn(input: ScenarioInput): Promise<AdmissionResult> {
    const start = new WithStartWorkflowOperation<typeof scenarioWorkflow>(SCENARIO_WORKFLOW_TYPE, {
      workflowId: input.scenarioId,
      taskQueue: MAIN_TASK_QUEUE,
      args: [input],
      // A SAT's jti is the workflow id: Temporal itself refuses the second start, open or closed.
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      // The read model from the first moment: the workflow publishes only what changes after.
      memo: { correlationId: input.correlationId, [MEMO.scenarioState]: initialState(input) },
      // What the Temporal UI shows from the first moment: filterable attributes, who/what/plan.
      typedSearchAttributes: initialSearchAttributes(input),
      staticSummary: staticSummary(input),
      staticDetails: staticDetails(input),
    });
    let handle;
    try {
      handle = await this.client.workflow.startUpdateWithStart(admissionUpdate, { waitForStage: 'ACCEPTED', startWorkflowOperation: start });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError || (err as Error).cause instanceof WorkflowExecutionAlreadyStartedError) {
        throw new ConflictError('this SAT was already used', 'sat_used');
      }
      throw err;
    }
    let timer: NodeJS.Timeout | undefined;
    const pending = new Promise<AdmissionResult>((resolve) => {
      timer = setTimeout(() => resolve({ status: 'pending', reasons: [] }), ADMISSION_WAIT_MS);
    });
    try {
      return await Promise.race([handle.result(), pending]);
    } finally {
      clearTimeout(timer);
    }
  }

  async isRunning(scenarioId: string): Promise<boolean> {
    try {
      return (await this.client.workflow.getHandle(scenarioId).describe()).status.name === 'RUNNING';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  }

  async get(scenarioId: string): Promise<ScenarioState> {
    let read;
    try {
      read = await readMemo<ScenarioState>(this.client, scenarioId, MEMO.scenarioState);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw scenarioNotFound(scenarioId);
      throw new UnavailableError(`scenario state is unavailable: ${(err as Error).message}`, 'state_unavailable');
    }
    let state = read.value;
    if (!state) {
      // Started before scenarios kept their state in the memo, or its first workflow task has not
      // run yet: ask the workflow. A query needs a worker; with none polling it would wait forever.
      try {
        state = await this.client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => this.client.workflow.getHandle(scenarioId).query(statusQuery));
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) throw scenarioNotFound(scenarioId);
        state = fromSearchAttributes(scenarioId, read.description);
      }
    }
    return this.retention ? await this.retention.view(state) : state;
  }

  async complete(scenarioId: string, req: CompletionRequest): Promise<CompletionAck> {
    const handle = this.client.workflow.getHandle(scenarioId);
    // The same body always has the same update id, so Temporal deduplicates a resent completion.
    const updateId = `complete-${completionDigest(req).slice(0, 32)}`;
    try {
      // An update is answered by a worker; with none polling, give up rather than hold the client.
      return await this.client.withDeadline(Date.now() + UPDATE_DEADLINE_MS, () => handle.executeUpdate(completeUpdate, { args: [req], updateId }));
    } catch (err) {
      if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
        throw new UnavailableError('no worker took the completion in time: send it again (it is idempotent)', 'completion_unavailable');
      }
      if (err instanceof WorkflowNotFoundError) {
        // Closed workflows take no updates: answer a resend of the accepted completion the same way.
        const state = await this.get(scenarioId);
        if (state.completionDigest && isSameCompletion(state.completionDigest, req)) return { status: state.status };
        throw new ConflictError(`scenario is ${state.status}, not running`, 'not_running');
      }
      throw (err instanceof WorkflowUpdateFailedError ? httpErrorOf(err) : undefined) ?? err;
    }
  }

  async cancel(scenarioId: string): Promise<void> {
    // Workflow cancellation: the workflow tears its container down in a non-cancellable scope.
    await this.client.workflow.getHandle(scenarioId).cancel();
  }

  async verdict(state: ScenarioState): Promise<{ verdict: Statement; signature: string; keyId: string; envelope: DsseEnvelope }> {
    const stored = state.status === 'scored' ? await this.store.get(resultsKey(state.scenarioId, RESULTS.envelope)) : undefined;
    if (!stored) {
      if (state.status === 'expired') {
        // A scenario that expired without ever being scored never had one: as before it expired.
        if (!await hadVerdict(this.store, state)) throw new ConflictError('scenario expired without ever being scored: there was never a verdict', 'not_scored');
        throw new NotFoundError('the verdict was deleted by retention');
      }
      throw new ConflictError(`scenario is ${state.status}: there is no verdict yet`, 'not_scored');
    }
    const envelope = JSON.parse(stored.toString('utf8')) as DsseEnvelope;
    const sig = envelope.signatures[0];
    if (!sig) throw new NotFoundError('verdict has no signature');
    const verdict = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as Statement;
    return { verdict, signature: sig.sig, keyId: sig.keyid, envelope };
  }
}

/** Whether an expired scenario had a verdict: its tombstone says so (its state does too, when a worker answered). */
async function hadVerdict(store: ArtifactStore, state: ScenarioState): Promise<boolean> {
  try {
    const tomb = await store.get(tombstoneKey(state.scenarioId));
    if (!tomb) return state.verdictKeyId !== undefined;
    return (JSON.parse(tomb.toString('utf8')) as Tombstone).verdict !== null;
  } catch {
    return state.verdictKeyId !== undefined;
  }
}

/** The one answer for an id the caller may not see, whether or not it exists. */
export function scenarioNotFound(scenarioId: string): NotFoundError {
  return new NotFoundError(`scenario ${scenarioId} does not exist`);
}

/**
 * What the server itself knows when no worker answers: the search attributes the workflow keeps
 * current. Less detail than the query, but an answer, not a hang.
 */
function fromSearchAttributes(scenarioId: string, d: WorkflowExecutionDescription): ScenarioState {
  const sa = d.typedSearchAttributes;
  const status = sa.get(SearchAttributeKeys.status) as ScenarioStatus | undefined;
  const [template = '', templateVersion = ''] = (sa.get(SearchAttributeKeys.template) ?? '').split('@');
  if (!status) throw new UnavailableError('scenario state is unavailable: no worker answered and no status is recorded', 'state_unavailable');
  return {
    scenarioId,
    status,
    tenant: sa.get(SearchAttributeKeys.tenant) ?? '',
    subject: sa.get(SearchAttributeKeys.subject) ?? '',
    template,
    templateVersion,
    track: sa.get(SearchAttributeKeys.track) ?? '',
    plan: sa.get(SearchAttributeKeys.plan) ?? '',
    createdAt: d.startTime.toISOString(),
    updatedAt: (d.closeTime ?? d.startTime).toISOString(),
    reason: 'live detail unavailable: no worker answered; status from the last recorded search attributes',
  };
}

export interface ScenarioServiceOptions { temporal: Client; store: ArtifactStore }

export const scenarioService = realService('scenarios', (app, opts: ScenarioServiceOptions) => new ScenarioService(opts.temporal, opts.store, app.retention));
