// An engine call is bounded by its own timeout and, when the caller has one, by the caller's
// cancellation too: one place decides how the two combine, so every bounded call stops alike.

/** `bound` alone, or `bound` together with `signal`: whichever aborts first aborts the call. */
export function boundedBy(bound: AbortSignal, signal?: AbortSignal): AbortSignal {
  return signal ? AbortSignal.any([bound, signal]) : bound;
}
