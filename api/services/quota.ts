// Per-subject quota through the subject's quota entity workflow (update-with-start): the lease is
// granted or refused synchronously, and if Temporal cannot be asked, the spawn is refused.
import { WithStartWorkflowOperation, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { legacyQuotaWorkflowId, quotaWorkflowId } from '../../lib/entity-ids.ts';
import { httpErrorOf, TooManyRequestsError, UnavailableError } from '../../lib/errors.ts';
import { quotaRejections } from '../../infra/metrics.ts';
import { acquireLeaseUpdate, quotaQuery, releaseLeaseSignal, type LeaseGrant, type LeaseRequest } from '../../contract/quota.ts';
import { MAIN_TASK_QUEUE, QUOTA_WORKFLOW_TYPE, SearchAttributeKeys } from '../../contract/queues.ts';
import type { quotaWorkflow } from '../../workflows/quota.ts';
import { realService } from './index.ts';

const LEGACY_GONE_MAX = 100_000;

export interface QuotaTiming { reapIntervalSeconds: number; startGraceSeconds: number }

export class QuotaService {
  /**
   * Legacy quota entities seen closed or absent. Nothing starts one any more, so once gone it
   * stays gone, and this process stops asking: a spawn pays the extra describe once per subject,
   * not every time. Bounded; forgetting only costs one more describe.
   */
  private readonly legacyGone = new Set<string>();

  constructor(private readonly client: Client, private readonly timing: QuotaTiming) {}

  async acquire(tenant: string, subject: string, req: LeaseRequest): Promise<LeaseGrant & { quotaWorkflowId: string }> {
    const workflowId = quotaWorkflowId(tenant, subject);
    const start = new WithStartWorkflowOperation<typeof quotaWorkflow>(QUOTA_WORKFLOW_TYPE, {
      workflowId,
      taskQueue: MAIN_TASK_QUEUE,
      args: [{ ...this.timing }],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    try {
      const heldElsewhere = await this.legacyLeases(tenant, subject);
      const grant = await this.client.workflow.executeUpdateWithStart(acquireLeaseUpdate, {
        args: [heldElsewhere ? { ...req, heldElsewhere } : req],
        startWorkflowOperation: start,
      });
      return { ...grant, quotaWorkflowId: workflowId };
    } catch (err) {
      const refusal = err instanceof WorkflowUpdateFailedError ? httpErrorOf(err) : undefined;
      if (refusal instanceof TooManyRequestsError) {
        quotaRejections.inc({ reason: refusal.code });
        throw refusal;
      }
      // Fail closed: a quota that cannot be checked is a refusal, never a free pass.
      quotaRejections.inc({ reason: 'quota_unavailable' });
      throw new UnavailableError(`the quota could not be checked: ${(err as Error).message}`, 'quota_unavailable');
    }
  }

  /**
   * The subject's leases still held by its quota entity under the old id, which two colliding
   * (tenant, subject) pairs shared: only those whose holder runs as this very tenant and subject
   * count, so the other pair's leases no longer limit this one, and a subject with leases on both
   * sides is still held to its plan's limit. Scenarios started before the change release there
   * themselves (their input names that entity). Once it holds no lease it is ended, so later spawns
   * pay one describe answered by the server. Its spawn-rate window is not carried over: at most
   * one minute after the change, a subject could spawn up to twice its per-minute rate.
   */
  private async legacyLeases(tenant: string, subject: string): Promise<number> {
    const id = legacyQuotaWorkflowId(tenant, subject);
    if (!id || this.legacyGone.has(id)) return 0;
    const gone = () => {
      if (this.legacyGone.size >= LEGACY_GONE_MAX) this.legacyGone.clear();
      this.legacyGone.add(id);
      return 0;
    };
    const handle = this.client.workflow.getHandle(id);
    let leases: string[];
    try {
      if ((await handle.describe()).status.name !== 'RUNNING') return gone();
      leases = Object.keys((await handle.query(quotaQuery)).leases);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return gone();
      throw err;
    }
    if (leases.length === 0) {
      await handle.terminate(`quota entities moved to ${quotaWorkflowId(tenant, subject)}; this one holds no lease`).catch((err: unknown) => {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      });
      return gone();
    }
    const mine = await Promise.all(leases.map(async (scenarioId) => {
      try {
        const d = await this.client.workflow.getHandle(scenarioId).describe();
        const attrs = d.typedSearchAttributes;
        return d.status.name === 'RUNNING' && attrs.get(SearchAttributeKeys.tenant) === tenant && attrs.get(SearchAttributeKeys.subject) === subject;
      } catch (err) {
        // A holder that never started is the entity's to reap; it is nobody's running scenario.
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      }
    }));
    return mine.filter(Boolean).length;
  }

  async release(quotaWorkflowId: string, scenarioId: string): Promise<void> {
    await this.client.workflow.getHandle(quotaWorkflowId).signal(releaseLeaseSignal, { scenarioId });
  }
}

export interface QuotaServiceOptions { temporal: Client; timing: QuotaTiming }

export const quotaService = realService('quota', (app, opts: QuotaServiceOptions) => new QuotaService(opts.temporal, opts.timing));
