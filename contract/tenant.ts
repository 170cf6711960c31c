// The tenant entitlement entity's contract (one workflow per tenant): the grants billing and ETs
// record, and the plan they resolve to (lib/resolve-entitlement.ts).
import { defineQuery, defineUpdate } from '@temporalio/workflow';

export type EntitlementSource = 'receipt' | 'et' | 'default';
export interface TenantGrant { plan: string; source: Exclude<EntitlementSource, 'default'>; reference: string; issuedAt: string }
export interface TenantEntitlementState { receipt?: TenantGrant; et?: TenantGrant }
export interface ResolvedEntitlement { plan: string; source: EntitlementSource; reference?: string }
export const recordGrantUpdate = defineUpdate<ResolvedEntitlement, [TenantGrant]>('recordGrant');
export const entitlementQuery = defineQuery<ResolvedEntitlement>('entitlement');
/** The tenant entity's memo: the resolved plan, and the grants it came from (a SAT need not re-record its ET). */
export interface TenantEntitlementMemo { resolved: ResolvedEntitlement; grants: TenantEntitlementState }
export const DEFAULT_PLAN = 'free';

/**
 * Whether `grant` is older than the one `recorded` of its source: grants only move forward in time,
 * so the entity refuses it (its validator), and the API answers it without asking the entity.
 */
export function staleGrantReason(grant: TenantGrant, recorded: TenantGrant | undefined): string | undefined {
  if (!recorded || Date.parse(grant.issuedAt) >= Date.parse(recorded.issuedAt)) return undefined;
  return `a newer ${grant.source} grant (${recorded.reference}) is already recorded`;
}
