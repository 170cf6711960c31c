// Activity interceptors shared by both workers: the correlation id from the activity's Temporal
// header goes into the async context (so pino lines logged by activity code carry it) and into
// every `Context.log` line; each execution is timed into the activity and launch histograms, and a
// policy "deny" is counted.
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { runWithCorrelation } from '../infra/correlation.ts';
import { activityDuration, launchDuration, policyDenies } from '../infra/metrics.ts';
import { readCorrelationId } from '../lib/correlation-header.ts';

export const activityInterceptors: ActivityInterceptorsFactory = (ctx) => {
  let correlationId: string | undefined;
  return {
    inbound: {
      async execute(input, next) {
        const info = ctx.info;
        correlationId = readCorrelationId(input.headers);
        const started = performance.now();
        const run = () => next(input);
        let outcome = 'failed';
        try {
          const result = await (correlationId ? runWithCorrelation({ correlationId, ...(info.workflowExecution ? { scenarioId: info.workflowExecution.workflowId } : {}) }, run) : run());
          outcome = 'completed';
          if (info.activityType === 'launchContainer') launchDuration.observe((Date.now() - info.scheduledTimestampMs) / 1000);
          if (info.activityType === 'evaluatePolicy' && (result as { allow?: unknown } | undefined)?.allow === false) policyDenies.inc();
          if (info.activityType === 'admit' && (result as { decision?: { allow?: unknown } } | undefined)?.decision?.allow === false) policyDenies.inc();
          return result;
        } finally {
          activityDuration.observe({ activity: info.activityType, outcome }, (performance.now() - started) / 1000);
        }
      },
    },
    outbound: {
      getLogAttributes(input, next) {
        return next(correlationId ? { ...input, correlationId } : input);
      },
    },
  };
};
