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
