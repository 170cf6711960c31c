// Which plan a tenant is on, from the grants its entitlement entity holds: a pure function, so the
// tenant workflow and anyone reading its memo resolve alike.
import { DEFAULT_PLAN, type ResolvedEntitlement, type TenantEntitlementState } from '../contract/tenant.ts';

/** Receipt beats ET beats the free default; within a source, the most recently issued wins. */
export function resolveEntitlement(state: TenantEntitlementState): ResolvedEntitlement {
  const g = state.receipt ?? state.et;
  return g ? { plan: g.plan, source: g.source, reference: g.reference } : { plan: DEFAULT_PLAN, source: 'default' };
}
