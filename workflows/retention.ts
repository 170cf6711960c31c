// Retention of one ended scenario's artifacts (scored, denied, failed, timed out or cancelled). The
// scenario's end starts it (the seal's local activity; histories before lean-history: as a child it
// abandons), so the scenario's own result stays what it ended as while this one runs a durable
// timer for the plan's retention days, counted from the end. A hold (signal, also from the Temporal UI) stops the deletion until it
// is released; the timer keeps counting meanwhile, so a release after the deadline deletes at once.
// Its status query is where "expired" is read from once the artifacts are gone.
import { allHandlersFinished, ApplicationFailure, condition, log, patched, proxyActivities, setHandler, startChild, upsertMemo } from '@temporalio/workflow';
import { retentionDeadline, retentionStart } from '../lib/retention-deadline.ts';
import type { MainActivities } from '../activities/index.ts';
import type { RetentionEvent } from '../activities/delete-artifacts.ts';
import { expireUpdate, holdSignal, releaseSignal, retentionQuery, retentionWorkflowId, type HoldRequest, type RetentionInput, type RetentionState } from '../contract/retention.ts';
import { MEMO } from '../contract/queues.ts';
import { RetentionFailureTypes } from '../contract/failures.ts';
import { STATE_IN_MEMO_PATCH } from './patches.ts';

const acts = proxyActivities<MainActivities>({
  startToCloseTimeout: '1 minute',
  // Deletion must eventually happen: retried until the storage answers, never given up on.
  retry: { initialInterval: '1 second', maximumInterval: '10 minutes' },
});

export async function retentionWorkflow(input: RetentionInput): Promise<RetentionState> {
  const deleteAfterMs = retentionDeadline(retentionStart(input), input.retentionDays);
  const state: RetentionState = {
    scenarioId: input.scenarioId,
    status: 'retained',
    retentionDays: input.retentionDays,
    deleteAfter: new Date(deleteAfterMs).toISOString(),
    held: false,
  };
  const stateInMemo = patched(STATE_IN_MEMO_PATCH);
  // Read by the API (GET /api/scenarios/:id of an ended scenario) without a query.
  const publish = () => {
    if (stateInMemo) upsertMemo({ [MEMO.retentionState]: state });
  };
  publish();
  // Holds and releases are recorded by an activity in the scenario's and the operator's audit
  // logs; handlers only queue them, the main loop writes them in order.
  const pending: RetentionEvent[] = [];
  let seq = 0;
  const record = (event: string, actor: string, data: Record<string, unknown>) => {
    pending.push({ time: new Date().toISOString(), actor, event, data, key: `${input.scenarioId}:retention:${seq++}` });
  };
  let expireRequestedBy: string | undefined;

  setHandler(retentionQuery, () => state);
  setHandler(holdSignal, (req?: HoldRequest) => {
    if (state.status === 'expired' || state.held) return;
    const actor = actorOf(req);
    state.held = true;
    state.status = 'held';
    state.hold = { actor, since: new Date().toISOString(), ...(req?.reason ? { reason: req.reason } : {}) };
    record('retention.hold', actor, req?.reason ? { reason: req.reason } : {});
    publish();
  });
  setHandler(releaseSignal, (req?: HoldRequest) => {
    if (state.status === 'expired' || !state.held) return;
    const actor = actorOf(req);
    state.held = false;
    state.status = 'retained';
    delete state.hold;
    record('retention.release', actor, req?.reason ? { reason: req.reason } : {});
    publish();
  });
  setHandler(
    expireUpdate,
    async ({ actor }) => {
      expireRequestedBy ??= actor;
      await condition(() => state.status === 'expired');
      return state;
    },
    {
      validator: (_req: { actor: string }) => {
        if (state.status === 'expired') return;
        if (state.held) throw ApplicationFailure.nonRetryable('the scenario is on hold', RetentionFailureTypes.held);
        if (Date.now() < deleteAfterMs) throw ApplicationFailure.nonRetryable(`retention runs until ${state.deleteAfter}`, RetentionFailureTypes.notDue);
      },
    },
  );

  for (;;) {
    if (pending.length) await acts.recordRetentionEvents({ scenarioId: input.scenarioId, events: pending.splice(0) });
    const due = expireRequestedBy !== undefined || Date.now() >= deleteAfterMs;
    if (due && !state.held && pending.length === 0) break;
    if (due) await condition(() => pending.length > 0 || !state.held);
    else await condition(() => pending.length > 0 || expireRequestedBy !== undefined, deleteAfterMs - Date.now());
  }

  const tombstone = await acts.expireScenario({
    scenarioId: input.scenarioId,
    time: new Date().toISOString(),
    actor: expireRequestedBy ?? 'retention',
    reason: expireRequestedBy ? `retention sweep (${input.retentionDays} days over)` : `retention period of ${input.retentionDays} days over`,
    key: `${input.scenarioId}:retention:deleted`,
  });
  state.status = 'expired';
  state.held = false;
  state.deletedAt = tombstone.deletedAt;
  state.tombstone = tombstone;
  publish();
  log.info('scenario artifacts deleted by retention', { scenarioId: input.scenarioId, correlationId: input.correlationId });
  // Signals that raced the deletion are dropped by their handlers; an expire update still waiting
  // is answered before the workflow closes.
  await condition(allHandlersFinished);
  return state;
}

function actorOf(req?: HoldRequest): string {
  // A bare signal from the Temporal UI carries no identity: say so rather than invent one.
  return req?.actor && req.actor.length <= 200 ? req.actor : 'temporal-ui';
}

/**
 * Called by the scenario workflow once its verdict is signed. ABANDON: the scenario closes as
 * "scored" right away, and its retention outlives it.
 */
export async function startRetention(input: RetentionInput): Promise<void> {
  await startChild(retentionWorkflow, {
    workflowId: retentionWorkflowId(input.scenarioId),
    parentClosePolicy: 'ABANDON',
    args: [input],
  });
}
