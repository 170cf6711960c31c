// The one place errors become responses: domain errors keep their code and status, Fastify's own
// 4xx keep theirs, and anything else is a 500 whose internals never reach the client.
import fp from 'fastify-plugin';
import type { FastifyError, FastifyInstance } from 'fastify';
import { ArbiterError } from '../../lib/errors.ts';

function codeOf(err: FastifyError): string {
  if (err.validation) return 'bad_request';
  switch (err.statusCode) {
    case 400: return err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'malformed_json' : 'bad_request';
    case 404: return 'not_found';
    case 405: return 'method_not_allowed';
    case 413: return 'payload_too_large';
    case 415: return 'unsupported_media_type';
    case 429: return 'rate_limited';
    default: return 'bad_request';
  }
}

export default fp(async function errors(app: FastifyInstance) {
  app.setErrorHandler((err: FastifyError | ArbiterError, request, reply) => {
    if (err instanceof ArbiterError) {
      const level = err.statusCode >= 500 ? 'error' : 'info';
      request.log[level]({ code: err.code, status: err.statusCode }, err.message);
      const reasons = err.details?.reasons as string[] | undefined;
      const retryAfter = (err as { retryAfterSeconds?: number }).retryAfterSeconds;
      if (retryAfter !== undefined) void reply.header('Retry-After', String(retryAfter));
      return reply.status(err.statusCode).send({ error: { code: err.code, message: err.message, ...(reasons ? { reasons } : {}) } });
    }
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status >= 500) {
      request.log.error({ err }, 'unhandled error');
      return reply.status(500).send({ error: { code: 'internal', message: 'internal error' } });
    }
    const message = err.validation ? `invalid request: ${err.message}` : err.message;
    request.log.info({ code: err.code, status }, message);
    return reply.status(status).send({ error: { code: codeOf(err), message } });
  });
  app.setNotFoundHandler((request, reply) => {
    request.log.info({ url: request.url, method: request.method }, 'no such route');
    return reply.status(404).send({ error: { code: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0] ?? ''}` } });
  });
}, { name: 'arbiter-errors' });
