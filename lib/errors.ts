// One error hierarchy for the whole service: a stable machine code and the HTTP status it maps
// to. The API's error handler is the only place that turns these into responses, and the table at
// the end the only place a Temporal failure type becomes one.
import { ApplicationFailure } from '@temporalio/common';
import { FailureTypes, type FailureType } from '../contract/failures.ts';

export class ArbiterError extends Error {
  constructor(
    readonly code: string,
    readonly statusCode: number,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class BadRequestError extends ArbiterError {
  constructor(message: string, code = 'bad_request') { super(code, 400, message); }
}
export class UnauthorizedError extends ArbiterError {
  constructor(message: string, code = 'unauthorized') { super(code, 401, message); }
}
export class ForbiddenError extends ArbiterError {
  constructor(message: string, code = 'forbidden', details?: Record<string, unknown>) { super(code, 403, message, details); }
}
export class NotFoundError extends ArbiterError {
  constructor(message: string, code = 'not_found') { super(code, 404, message); }
}
export class ConflictError extends ArbiterError {
  constructor(message: string, code = 'conflict') { super(code, 409, message); }
}
export class UnavailableError extends ArbiterError {
  constructor(message: string, code = 'unavailable') { super(code, 503, message); }
}

/** Startup problems: the process must stop with a message that names what is wrong. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export class TooManyRequestsError extends ArbiterError {
  constructor(message: string, code: string, readonly retryAfterSeconds: number) {
    super(code, 429, message);
  }
}

type FailureLike = Pick<ApplicationFailure, 'type' | 'message' | 'details'>;

const retryAfterOf = (f: FailureLike): number => (f.details?.[0] as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds ?? 60;

/**
 * The one table from a workflow's or activity's failure type to the HTTP error a caller gets.
 * Types missing here are not the caller's doing (an outage, a bug): the caller decides.
 */
const HTTP_ERROR_OF_FAILURE: Partial<Record<FailureType, (f: FailureLike) => ArbiterError>> = {
  [FailureTypes.notRunning]: (f) => new ConflictError(f.message, 'not_running'),
  [FailureTypes.conflictingCompletion]: (f) => new ConflictError(f.message, 'already_completed'),
  [FailureTypes.invalidCompletion]: (f) => new BadRequestError(f.message, 'number_not_representable'),
  [FailureTypes.staleGrant]: (f) => new ConflictError(f.message, 'stale_grant'),
  [FailureTypes.quotaExceeded]: (f) => new TooManyRequestsError(f.message, 'quota_exceeded', retryAfterOf(f)),
  [FailureTypes.rateLimited]: (f) => new TooManyRequestsError(f.message, 'rate_limited', retryAfterOf(f)),
};

/**
 * The HTTP error for a Temporal error whose cause chain holds an ApplicationFailure of a type the
 * table maps (an update refused by its validator or handler, a failed activity), else undefined.
 */
export function httpErrorOf(err: unknown): ArbiterError | undefined {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof ApplicationFailure) {
      const type = e.type as FailureType | null | undefined;
      return type ? HTTP_ERROR_OF_FAILURE[type]?.(e) : undefined;
    }
  }
  return undefined;
}
