// Entitlement resolution for the API: grants (billing receipts, ETs) are recorded in the tenant's
// entity workflow, and the resolved plan is read back from it. Receipt beats ET beats free.
import { WithStartWorkflowOperation, WorkflowNotFoundError, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, type Client } from '@temporalio/client';
import type { ChainedLogFile } from '../../infra/chained-log.ts';
import { billingLog } from '../../infra/billing-log.ts';
import { sha256Hex } from '../../lib/canonical-json.ts';
import { readMemo } from '../../infra/read-model.ts';
import { ConflictError, httpErrorOf, UnavailableError } from '../../lib/errors.ts';
import { tenantWorkflowId } from '../../lib/entity-ids.ts';
import { entitlementQuery, recordGrantUpdate, staleGrantReason, type ResolvedEntitlement, type TenantEntitlementMemo, type TenantGrant } from '../../contract/tenant.ts';
import { MAIN_TASK_QUEUE, MEMO, TENANT_WORKFLOW_TYPE } from '../../contract/queues.ts';
import type { tenantWorkflow } from '../../workflows/tenant.ts';
import { realService } from './index.ts';

/** How long recording a grant waits for a worker to take it; resending is safe (grants are idempotent). */
const RECORD_DEADLINE_MS = 15_000;

export class EntitlementService {
  readonly billing: ChainedLogFile;

  constructor(private readonly client: Client, storageDir: string) {
    this.billing = billingLog(storageDir, client);
  }

  /**
   * Records a grant (creating the tenant's entity on first use) and returns the resolved plan.
   * An ET mints many SATs: once its grant is recorded, later ones read the plan instead of
   * writing the same grant into the tenant's history again. An older grant than the one recorded
   * is refused here, as the entity would refuse it (grants only move forward, so what the memo
   * shows is never newer than what the entity holds): with many subjects in one tenant, each with
   * its own ET, asking the entity anyway cost every SAT but the newest ET's an update round trip
   * through the main worker, and waited for one while it was down.
   */
  async record(tenant: string, grant: TenantGrant): Promise<ResolvedEntitlement> {
    const known = await this.memo(tenant).catch(() => undefined);
    const recorded = known && (grant.source === 'receipt' ? known.grants.receipt : known.grants.et);
    if (recorded && recorded.reference === grant.reference && recorded.plan === grant.plan) return known.resolved;
    const stale = staleGrantReason(grant, recorded);
    if (stale) throw new ConflictError(stale, 'stale_grant');
    const start = new WithStartWorkflowOperation<typeof tenantWorkflow>(TENANT_WORKFLOW_TYPE, {
      workflowId: tenantWorkflowId(tenant),
      taskQueue: MAIN_TASK_QUEUE,
      args: [{}],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    try {
      // An update is answered by a worker; with none polling, give up rather than hold the client.
      return await this.client.withDeadline(Date.now() + RECORD_DEADLINE_MS, () => this.client.workflow.executeUpdateWithStart(recordGrantUpdate, { args: [grant], startWorkflowOperation: start }));
    } catch (err) {
      if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || (err as Error).cause instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
        throw new UnavailableError('no worker recorded the grant in time: send it again', 'entitlements_unavailable');
      }
      throw (err instanceof WorkflowUpdateFailedError ? httpErrorOf(err) : undefined) ?? err;
    }
  }

  /** The tenant's plan as recorded; undefined when nothing was ever recorded for it. */
  async current(tenant: string): Promise<ResolvedEntitlement | undefined> {
    try {
      const known = await this.memo(tenant);
      // A tenant entity from before it kept its memo answers its query.
      return known?.resolved ?? await this.client.workflow.getHandle(tenantWorkflowId(tenant)).query(entitlementQuery);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  private async memo(tenant: string): Promise<TenantEntitlementMemo | undefined> {
    return (await readMemo<TenantEntitlementMemo>(this.client, tenantWorkflowId(tenant), MEMO.tenantEntitlement)).value;
  }

  /** Appends an accepted receipt to the billing log (the receipt's digest, never the token). */
  async logReceipt(receipt: { token: string; jti: string; tenant: string; plan: string; issuedAt: string }): Promise<void> {
    await this.billing.append({
      time: new Date().toISOString(),
      actor: 'billing',
      event: 'receipt.accepted',
      data: { receiptId: receipt.jti, tenant: receipt.tenant, plan: receipt.plan, issuedAt: receipt.issuedAt, sha256: sha256Hex(receipt.token) },
    });
  }
}

export interface EntitlementServiceOptions { temporal: Client; storageDir: string }

export const entitlementService = realService('entitlements', (app, opts: EntitlementServiceOptions) => new EntitlementService(opts.temporal, opts.storageDir));
