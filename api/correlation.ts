// The API end of the correlation id: every Temporal call made while handling a request carries the
// request's id in a Temporal header, which the workflow interceptors pass on to every activity.
import type { WorkflowClientInterceptor } from '@temporalio/client';
import { currentCorrelation } from '../infra/correlation.ts';
import { withCorrelationId } from '../lib/correlation-header.ts';

const id = () => currentCorrelation()?.correlationId;

export function correlationClientInterceptor(): WorkflowClientInterceptor {
  return {
    start: (input, next) => next({ ...input, headers: withCorrelationId(input.headers, id()) }),
    startWithDetails: (input, next) => next({ ...input, headers: withCorrelationId(input.headers, id()) }),
    signalWithStart: (input, next) => next({ ...input, headers: withCorrelationId(input.headers, id()) }),
    startUpdateWithStart: (input, next) => next({
      ...input,
      workflowStartHeaders: withCorrelationId(input.workflowStartHeaders, id()),
      updateHeaders: withCorrelationId(input.updateHeaders, id()),
    }),
    startUpdate: (input, next) => next({ ...input, headers: withCorrelationId(input.headers, id()) }),
    signal: (input, next) => next({ ...input, headers: withCorrelationId(input.headers, id()) }),
  };
}
