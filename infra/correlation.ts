// The correlation id of the work in progress, kept in an async context: set once where work enters
// a process (an HTTP request in the API, an activity in a worker) and read by the loggers and the
// Temporal client interceptor, instead of being threaded through every call.
import { AsyncLocalStorage } from 'node:async_hooks';

export interface CorrelationContext {
  correlationId: string;
  /** the scenario (workflow id) the work belongs to, when known */
  scenarioId?: string;
}

const store = new AsyncLocalStorage<CorrelationContext>();

export function runWithCorrelation<T>(context: CorrelationContext, fn: () => T): T {
  return store.run(context, fn);
}

export function currentCorrelation(): CorrelationContext | undefined {
  return store.getStore();
}

/** A pino `mixin`: every line logged inside a correlation context carries its fields. */
export function correlationMixin(): Record<string, string> {
  const c = store.getStore();
  if (!c) return {};
  return c.scenarioId ? { correlationId: c.correlationId, scenarioId: c.scenarioId } : { correlationId: c.correlationId };
}
