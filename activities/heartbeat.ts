// Liveness heartbeats for the container host's activities. A heartbeat here says "the worker
// running this attempt is alive", which is what the heartbeat timeout needs to tell a slow
// activity from a dead worker: a SIGKILLed host worker is noticed within that timeout and the
// attempt retried (launch adopts the container the dead attempt created), instead of waiting
// for the start-to-close timeout. Heartbeats also carry cancellation to the activity.
import { Context } from '@temporalio/activity';

export const HEARTBEAT_EVERY_MS = 3_000;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- activities take any arguments
type Activities = Record<string, (...args: any[]) => Promise<unknown>>;

export function keepHeartbeating<T extends Activities>(activities: T): T {
  const wrapped: Activities = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: unknown[]) => {
      const ctx = Context.current();
      // None at the start: the server's heartbeat timeout counts from the start already, and one
      // sent now would cost every host activity a round trip and a write before it could complete.
      const timer = setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
      try {
        return await fn(...args);
      } finally {
        clearInterval(timer);
      }
    };
  }
  return wrapped as T;
}
