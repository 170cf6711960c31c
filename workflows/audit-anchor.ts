// The anchor of one shared hash-chained log (the operator audit log, the billing log): the length
// and head hash of its anchored prefix, kept where whoever can write the log's folder cannot
// reach. Appenders move it forward by an update whose validator accepts only entries that follow
// the anchored head (lib/audit-anchor.ts), so it never moves back or forks; `arbiter audit
// verify` reads it from the memo and requires the log to still hold the anchored entry.
import { allHandlersFinished, ApplicationFailure, condition, makeContinueAsNewFunc, setHandler, upsertMemo, workflowInfo } from '@temporalio/workflow';
import { advanceAnchorUpdate, anchorQuery, type AnchorLink, type AnchorState } from '../contract/audit-anchor.ts';
import { FailureTypes } from '../contract/failures.ts';
import { MEMO } from '../contract/queues.ts';
import { EMPTY_ANCHOR, extendAnchor } from '../lib/audit-anchor.ts';

export async function auditAnchorWorkflow(carried: AnchorState = EMPTY_ANCHOR): Promise<void> {
  let state: AnchorState = { ...carried };
  const refuse = (reason: string) => ApplicationFailure.nonRetryable(`the audit anchor ${workflowInfo().workflowId} refuses: ${reason}`, FailureTypes.anchorRejected);

  setHandler(anchorQuery, () => state);
  setHandler(
    advanceAnchorUpdate,
    (links: AnchorLink[]) => {
      const r = extendAnchor(state, links);
      if (!r.ok) throw refuse(r.reason);
      if (r.added > 0) {
        state = r.next;
        // The head in the Temporal UI and for readers that must not wait on a worker (verify).
        upsertMemo({ [MEMO.auditAnchor]: state });
      }
      return state;
    },
    {
      validator: (links: AnchorLink[]) => {
        const r = extendAnchor(state, links);
        if (!r.ok) throw refuse(r.reason);
      },
    },
  );

  // Bounded history: each append adds a few events; the next run starts from the state alone,
  // with it in its memo from the first moment.
  await condition(() => workflowInfo().continueAsNewSuggested);
  await condition(allHandlersFinished);
  await makeContinueAsNewFunc<typeof auditAnchorWorkflow>({ memo: { [MEMO.auditAnchor]: state } })(state);
}
