// The end of a scenario as one local activity. Scored: sign the verdict, start the retention of its
// artifacts, release the quota lease. Any other end (denied, failed, timed out, cancelled): write
// the audit log, start the retention of what it left, release the lease. The retention start and
// the release were commands of the scenario workflow (a child workflow start, an external signal),
// recorded in its history with the workflow task that followed; from here they cost the scenario's
// history nothing. Every step is idempotent, so a retried attempt changes nothing the first did.
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

export interface EndRequest {
  scenarioId: string;
  events: AuditEvent[];
  /** the retention of what the scenario left: its period counts from the end (endedAt) */
  retention: RetentionInput;
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

  async function startRetention(retention: RetentionInput): Promise<void> {
    try {
      // Not a child: the scenario closes as what it ended as right away, and its retention outlives it.
      await deps.temporal.workflow.start(RETENTION_WORKFLOW_TYPE, {
        workflowId: retentionWorkflowId(retention.scenarioId),
        taskQueue: MAIN_TASK_QUEUE,
        args: [retention],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
      });
    } catch (err) {
      // An earlier attempt started it.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }

  return {
    /**
     * Every other way a scenario ends (denied, failed, timed out, cancelled): its audit log written,
     * the retention of its audit log and evidence started, its lease released.
     */
    async endScenario(req: EndRequest): Promise<{ head: string }> {
      const written = await deps.writeAudit({ scenarioId: req.scenarioId, events: req.events });
      await startRetention(req.retention);
      await releaseLease(req.quotaWorkflowId, req.scenarioId);
      return written;
    },

    async sealScenario(req: SealRequest): Promise<{ keyId: string; auditHead: string; statementSha256: string }> {
      const signed = await deps.signVerdict(req.sign);
      await startRetention(req.retention);
      await releaseLease(req.quotaWorkflowId, req.retention.scenarioId);
      return signed;
    },
  };
}
