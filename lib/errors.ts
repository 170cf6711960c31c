// One error hierarchy for the whole service: a stable machine code and the HTTP status it maps
// to. The API's error handler is the only place that turns these into responses.

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
