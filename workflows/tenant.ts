// The entitlement entity of one tenant: what billing granted it (receipts) and what its ETs last
// said, kept durably so a restart of any process forgets nothing, and re-read by every scenario
// so a SAT minted before a downgrade does not carry the old plan's limits.
import { allHandlersFinished, ApplicationFailure, condition, continueAsNew, patched, setHandler, upsertMemo, workflowInfo } from '@temporalio/workflow';
import { entitlementQuery, recordGrantUpdate, staleGrantReason, type TenantEntitlementMemo, type TenantEntitlementState, type TenantGrant } from '../contract/tenant.ts';
import { FailureTypes } from '../contract/failures.ts';
import { MEMO } from '../contract/queues.ts';
import { resolveEntitlement } from '../lib/resolve-entitlement.ts';
import { STATE_IN_MEMO_PATCH } from './patches.ts';

export async function tenantWorkflow(carried: TenantEntitlementState = {}): Promise<void> {
  const state: TenantEntitlementState = { ...carried };
  const stateInMemo = patched(STATE_IN_MEMO_PATCH);
  // Read by the API and by checkEntitlements without a query (contract/queues.ts MEMO).
  const publish = () => {
    if (stateInMemo) upsertMemo({ [MEMO.tenantEntitlement]: { resolved: resolveEntitlement(state), grants: state } satisfies TenantEntitlementMemo });
  };
  if (state.receipt || state.et) publish();

  setHandler(entitlementQuery, () => resolveEntitlement(state));
  setHandler(
    recordGrantUpdate,
    (grant: TenantGrant) => {
      if (grant.source === 'receipt') state.receipt = grant;
      else state.et = grant;
      publish();
      return resolveEntitlement(state);
    },
    {
      validator: (grant: TenantGrant) => {
        // Grants only move forward in time: an older receipt or ET replayed later changes nothing.
        const stale = staleGrantReason(grant, grant.source === 'receipt' ? state.receipt : state.et);
        if (stale) throw ApplicationFailure.nonRetryable(stale, FailureTypes.staleGrant);
      },
    },
  );

  await condition(() => workflowInfo().continueAsNewSuggested);
  await condition(allHandlersFinished);
  await continueAsNew<typeof tenantWorkflow>(state);
}
