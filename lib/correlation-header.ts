// The correlation id in a Temporal header (contract/queues.ts CORRELATION_HEADER): written by the
// API's client interceptor and the workflow interceptors, read by the workflow and activity
// interceptors. Pure, so the workflow sandbox and the Node processes encode it alike.
import { defaultPayloadConverter, type Headers } from '@temporalio/common';
import { CORRELATION_HEADER } from '../contract/queues.ts';

export function readCorrelationId(headers: Headers): string | undefined {
  const payload = headers[CORRELATION_HEADER];
  if (!payload) return undefined;
  const value: unknown = defaultPayloadConverter.fromPayload(payload);
  return typeof value === 'string' && value ? value : undefined;
}

export function withCorrelationId(headers: Headers, correlationId: string | undefined): Headers {
  if (!correlationId || headers[CORRELATION_HEADER]) return headers;
  return { ...headers, [CORRELATION_HEADER]: defaultPayloadConverter.toPayload(correlationId) };
}
