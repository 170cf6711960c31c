// Workflow interceptors, bundled with the workflows (workers/workers.ts `WORKFLOW_INTERCEPTORS`):
// - the correlation id arrives in the start request's Temporal header (the API's client
//   interceptor puts it there), is attached to every workflow log line, and is passed on in the
//   header of every activity and child workflow, so activity logs carry it too;
// - every activity gets a one-line summary for the Temporal UI, and while it runs the workflow's
//   current details say which step it is on.
import {
  getCurrentDetails,
  setCurrentDetails,
  type ActivityInput,
  type Next,
  type WorkflowExecuteInput,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptors,
  type WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';
import { readCorrelationId, withCorrelationId } from '../lib/correlation-header.ts';

/** A short, human summary of an activity call, from its type and first argument. */
export function activitySummary(activityType: string, args: unknown[]): string {
  const a = (args[0] ?? {}) as Record<string, unknown>;
  const template = a.template as { id?: string; version?: string } | undefined;
  const tpl = template?.id ? ` ${template.id}@${template.version ?? '?'}` : '';
  switch (activityType) {
    case 'checkEntitlements': return `resolve the plan and limits of ${String(a.subject)}@${String(a.tenant)}`;
    case 'evaluatePolicy': return `OPA policy: may ${String(a.subject)} (plan ${String(a.plan)}) run${tpl} on track ${String(a.track)}?`;
    case 'pickHost': return 'choose a container host';
    case 'admit': return `entitlements, OPA policy and host: may ${String(a.subject)}@${String(a.tenant)} run${tpl}?`;
    case 'launchContainer': return `start the hardened container for${tpl}`;
    case 'collectEvidence': return `collect evidence from ${String(a.containerName)}`;
    case 'teardownContainer': return `stop and remove ${String(a.containerName)}`;
    case 'score':
    case 'runScorer': return `score the evidence in a fresh scorer container${tpl}`;
    case 'signVerdict': return 'sign the verdict (Ed25519, DSSE)';
    case 'writeAudit': return 'write the hash-chained audit log';
    case 'concludeScenario': return a.score ? 'collect evidence, remove the containers, score in a fresh scorer container' : 'collect evidence, remove the containers';
    case 'sealScenario': return 'sign the verdict (Ed25519, DSSE), start retention, release the lease';
    case 'endScenario': return 'write the hash-chained audit log, release the lease';
    default: return activityType;
  }
}

/** A fresh set per workflow execution: the factory runs once for each, so its closure is per-run state. */
export function interceptors(): WorkflowInterceptors {
  let correlationId: string | undefined;
  // Current details = what the workflow last said (base) + the activities under way now.
  const running = new Map<number, string>();
  let base = '';
  let shown: string | undefined;
  const showDetails = () => {
    // Details the workflow set since we last wrote them become the new base.
    const current = getCurrentDetails();
    if (current !== shown) base = current;
    const now = [...running.values()];
    shown = now.length ? `${base ? `${base} — ` : ''}now: ${now.join('; ')}` : base;
    setCurrentDetails(shown);
  };

  // Not `async` where nothing is awaited: the SDK takes a stack trace for every promise a workflow
  // creates (its stack-trace query), so a wrapper promise per call costs more than it looks.
  const inbound: WorkflowInboundCallsInterceptor = {
    execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>) {
      // Scenario inputs also carry the id, for starts that came without the header (tests, tctl).
      const arg = input.args[0] as { correlationId?: unknown } | undefined;
      correlationId = readCorrelationId(input.headers) ?? (typeof arg?.correlationId === 'string' ? arg.correlationId : undefined);
      return next(input);
    },
  };

  const outbound: WorkflowOutboundCallsInterceptor = {
    async scheduleActivity(input: ActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleActivity'>) {
      const summary = input.options.summary ?? activitySummary(input.activityType, input.args);
      running.set(input.seq, summary);
      showDetails();
      try {
        return await next({ ...input, options: { ...input.options, summary }, headers: withCorrelationId(input.headers, correlationId) });
      } finally {
        running.delete(input.seq);
        showDetails();
      }
    },
    scheduleLocalActivity(input, next) {
      // Recorded on the local activity's marker, where the UI shows it like an activity's.
      const summary = input.options.summary ?? activitySummary(input.activityType, input.args);
      return next({ ...input, options: { ...input.options, summary }, headers: withCorrelationId(input.headers, correlationId) });
    },
    startChildWorkflowExecution(input, next) {
      return next({ ...input, headers: withCorrelationId(input.headers, correlationId) });
    },
    getLogAttributes(input, next) {
      return next(correlationId ? { ...input, correlationId } : input);
    },
  };

  return { inbound: [inbound], outbound: [outbound] };
}
