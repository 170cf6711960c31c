// Per-subject quota through the subject's quota entity workflow (update-with-start): the lease is
// granted or refused synchronously, and if Temporal cannot be asked, the spawn is refused.
import { WithStartWorkflowOperation, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { ArbiterError, UnavailableError } from '../lib/errors.ts';
import { quotaRejections } from '../lib/metrics.ts';
import {
  acquireLeaseUpdate,
  FailureTypes,
  MAIN_TASK_QUEUE,
  QUOTA_WORKFLOW_TYPE,
  quotaWorkflowId,
  releaseLeaseSignal,
  type LeaseGrant,
  type LeaseRequest,
} from '../workflows/shared.ts';
import type { quotaWorkflow } from '../workflows/quota.ts';

export class TooManyRequestsError extends ArbiterError {
  constructor(message: string, code: string, readonly retryAfterSeconds: number) {
    super(code, 429, message);
  }
}

export interface QuotaTiming { reapIntervalSeconds: number; startGraceSeconds: number }

export class QuotaService {
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
      const grant = await this.client.workflow.executeUpdateWithStart(acquireLeaseUpdate, { args: [req], startWorkflowOperation: start });
      return { ...grant, quotaWorkflowId: workflowId };
    } catch (err) {
      const cause = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
      if (cause instanceof ApplicationFailure && (cause.type === FailureTypes.quotaExceeded || cause.type === FailureTypes.rateLimited)) {
        const retryAfter = (cause.details?.[0] as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds ?? 60;
        const code = cause.type === FailureTypes.quotaExceeded ? 'quota_exceeded' : 'rate_limited';
        quotaRejections.inc({ reason: code });
        throw new TooManyRequestsError(cause.message, code, retryAfter);
      }
      // Fail closed: a quota that cannot be checked is a refusal, never a free pass.
      quotaRejections.inc({ reason: 'quota_unavailable' });
      throw new UnavailableError(`the quota could not be checked: ${(err as Error).message}`, 'quota_unavailable');
    }
  }

  async release(quotaWorkflowId: string, scenarioId: string): Promise<void> {
    await this.client.workflow.getHandle(quotaWorkflowId).signal(releaseLeaseSignal, { scenarioId });
  }
}
