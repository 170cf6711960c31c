// The appenders' and verifiers' side of an audit anchor (workflows/audit-anchor.ts): read it from
// its memo (answered by the Temporal server alone), and move it by update-with-start, bounded in
// time so a missing main worker fails an append with a message instead of holding the log's lock.
import { WithStartWorkflowOperation, WorkflowNotFoundError, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, type Client } from '@temporalio/client';
import { advanceAnchorUpdate, auditAnchorWorkflowId, MAX_LINKS_PER_UPDATE, type AnchoredLog, type AnchorLink, type AnchorState } from '../contract/audit-anchor.ts';
import { AUDIT_ANCHOR_WORKFLOW_TYPE, MAIN_TASK_QUEUE, MEMO } from '../contract/queues.ts';
import { AnchorError, EMPTY_ANCHOR } from '../lib/audit-anchor.ts';
import { readMemo } from './read-model.ts';

/** How long an append waits for the anchor to confirm (it needs the main worker to run the update). */
export const ANCHOR_TIMEOUT_MS = 10_000;

export interface AnchorRead {
  state: AnchorState;
  /**
   * absent: never started (a log from before anchoring, or a new deployment); closed: its last run
   * ended without continuing (terminated by hand): the next append starts a new run from its state.
   */
  status: 'running' | 'closed' | 'absent';
  /** the closed run's status (TERMINATED, FAILED, …) */
  closedAs?: string;
}

export class LogAnchor {
  readonly workflowId: string;

  constructor(readonly client: Client, log: AnchoredLog, readonly timeoutMs = ANCHOR_TIMEOUT_MS) {
    this.workflowId = auditAnchorWorkflowId(log);
  }

  /** `audit-anchor-operator in namespace default`: how messages name it. */
  get name(): string {
    return `${this.workflowId} (namespace ${this.client.options.namespace})`;
  }

  async read(): Promise<AnchorRead> {
    try {
      const { value, description } = await this.client.withDeadline(Date.now() + this.timeoutMs, () => readMemo<AnchorState>(this.client, this.workflowId, MEMO.auditAnchor));
      const status = description.status.name;
      // Every run has its memo from its start (set at start and at continue-as-new).
      if (!value) throw new AnchorError(`the audit anchor ${this.name} has no anchored head in its memo`);
      return status === 'RUNNING' ? { state: value, status: 'running' } : { state: value, status: 'closed', closedAs: status };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return { state: EMPTY_ANCHOR, status: 'absent' };
      if (err instanceof AnchorError) throw err;
      throw new AnchorError(`cannot read the audit anchor ${this.name}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Moves the anchor over `links` (which must follow `from`'s head), starting it where it is absent
   * and a new run from its last state where it was closed. Returns the new anchored state.
   */
  async advance(from: AnchorRead, links: readonly AnchorLink[]): Promise<AnchorState> {
    let state = from.state;
    for (let i = 0; i < links.length; i += MAX_LINKS_PER_UPDATE) {
      const start = new WithStartWorkflowOperation(AUDIT_ANCHOR_WORKFLOW_TYPE, {
        workflowId: this.workflowId,
        taskQueue: MAIN_TASK_QUEUE,
        args: [state],
        memo: { [MEMO.auditAnchor]: state },
        workflowIdConflictPolicy: 'USE_EXISTING',
      });
      const chunk = links.slice(i, i + MAX_LINKS_PER_UPDATE);
      try {
        state = await this.client.withDeadline(Date.now() + this.timeoutMs, () =>
          this.client.workflow.executeUpdateWithStart(advanceAnchorUpdate, { args: [chunk], startWorkflowOperation: start }));
      } catch (err) {
        if (err instanceof WorkflowUpdateFailedError) {
          throw new AnchorError(`${err.cause?.message ?? err.message}`, { cause: err });
        }
        const why = err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || /deadline/i.test((err as Error).message)
          ? `no answer within ${this.timeoutMs / 1000} s (is the main worker running?)`
          : (err as Error).message;
        throw new AnchorError(`the audit anchor ${this.name} did not confirm entries ${chunk[0]!.seq} to ${chunk.at(-1)!.seq}: ${why}`, { cause: err });
      }
    }
    return state;
  }
}
