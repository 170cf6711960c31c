// The end of a scenario as one local activity. Scored: sign the verdict, start the retention of its
// artifacts, release the quota lease. Any other end: write the audit log, release the lease. Each of the last two was a command of the scenario workflow
// (a child workflow start, an external signal), recorded in its history with the workflow task
// that followed; from here they cost the scenario's history nothing. All three are idempotent,
// so a retried attempt changes nothing the first one did.
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { MAIN_TASK_QUEUE, RETENTION_WORKFLOW_TYPE } from '../contract/queues.ts';
import { releaseLeaseSignal } from '../contract/quota.ts';
import { retentionWorkflowId, type RetentionInput } from '../contract/retention.ts';
import type { SignRequest } from './sign-verdict.ts';
import type { AuditEvent } from '../lib/audit-chain.ts';

export interface SealRequest {
  sign: SignRequest;
  retention: RetentionInput;
  /** the quota entity holding the scenario's lease, when it took one */
  quotaWorkflowId?: string;
}

export function createSealActivities(deps: {
  temporal: Client;
  signVerdict(req: SignRequest): Promise<{ keyId: string; auditHead: string; statementSha256: string }>;
  writeAudit(req: { scenarioId: string; events: AuditEvent[] }): Promise<{ head: string }>;
}) {
  async function releaseLease(quotaWorkflowId: string | undefined, scenarioId: string): Promise<void> {
    if (!quotaWorkflowId) return;
    try {
      await deps.temporal.workflow.getHandle(quotaWorkflowId).signal(releaseLeaseSignal, { scenarioId });
    } catch (err) {
      // A quota entity that is gone holds no lease.
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }

  return {
    /** Every other way a scenario ends (denied, failed, timed out, cancelled): its audit log written, its lease released. */
    async endScenario(req: { scenarioId: string; events: AuditEvent[]; quotaWorkflowId?: string }): Promise<{ head: string }> {
      const written = await deps.writeAudit({ scenarioId: req.scenarioId, events: req.events });
      await releaseLease(req.quotaWorkflowId, req.scenarioId);
      return written;
    },

    async sealScenario(req: SealRequest): Promise<{ keyId: string; auditHead: string; statementSha256: string }> {
      const signed = await deps.signVerdict(req.sign);
      try {
        // Not a child: the scenario closes as "scored" right away, and its retention outlives it.
        await deps.temporal.workflow.start(RETENTION_WORKFLOW_TYPE, {
          workflowId: retentionWorkflowId(req.retention.scenarioId),
          taskQueue: MAIN_TASK_QUEUE,
          args: [req.retention],
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
        });
      } catch (err) {
        // An earlier attempt started it.
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
      await releaseLease(req.quotaWorkflowId, req.retention.scenarioId);
      return signed;
    },
  };
}
