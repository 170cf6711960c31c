// The one place errors become responses: domain errors keep their code and status, Fastify's own
// 4xx keep theirs, and anything else is a 500 whose internals never reach the client.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import fp from 'fastify-plugin';
import FindMyWay from 'find-my-way';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ArbiterError, TooManyRequestsError } from '../../lib/errors.ts';

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
      if (err instanceof TooManyRequestsError) void reply.header('Retry-After', String(err.retryAfterSeconds));
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
  // A mirror of the app's routes, by method, answers the one question Fastify's router does not:
  // which methods does the path that was asked for have? Filled as routes are added (this plugin
  // is registered before any), with the same matching as Fastify's router (its defaults).
  const paths = FindMyWay();
  const methods = new Set<string>();
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      // A GET serves HEAD too (Fastify's exposeHeadRoutes), whether or not its HEAD route is announced.
      for (const m of method === 'GET' ? ['GET', 'HEAD'] : [method]) {
        if (paths.hasRoute(m as FindMyWay.HTTPMethod, route.url)) continue;
        paths.on(m as FindMyWay.HTTPMethod, route.url, () => undefined);
        methods.add(m);
      }
    }
  });
  const allowedOn = (url: string): string[] => [...methods].filter((m) => paths.find(m as FindMyWay.HTTPMethod, url) !== null).sort();

  /** 405 with Allow when the path has other methods, else 404; both in the contract's shape. */
  const noRoute = (request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const path = request.url.split('?')[0] ?? '';
    const allowed = allowedOn(request.raw.url ?? request.url);
    if (allowed.length) {
      request.log.info({ url: request.url, method: request.method, allowed }, 'method not allowed');
      return reply.status(405).header('Allow', allowed.join(', '))
        .send({ error: { code: 'method_not_allowed', message: `${request.method} is not allowed on ${path}: it allows ${allowed.join(', ')}` } });
    }
    request.log.info({ url: request.url, method: request.method }, 'no such route');
    return reply.status(404).send({ error: { code: 'not_found', message: `no route ${request.method} ${path}` } });
  };
  // Answered before Fastify reads a body for the missing route: a body that route would never
  // read (malformed JSON, a QUERY without Content-Type) must not turn 404 or 405 into a 400.
  app.addHook('onRequest', async (request, reply) => {
    if (request.is404) return noRoute(request, reply);
  });
  app.setNotFoundHandler(noRoute);
}, { name: 'arbiter-errors' });

/**
 * Errors Fastify's router raises before any hook or handler runs (a URL with bad percent-encoding,
 * a path parameter over the length limit): answered in the contract's shape, with the correlation
 * id like every other response. Passed to Fastify as its `frameworkErrors`.
 */
export function frameworkErrors(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const [status, code, message] = err.code === 'FST_ERR_BAD_URL' ? [400, 'malformed_url', 'the URL is not valid (bad percent-encoding)']
    : err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? [414, 'uri_too_long', 'a path parameter is too long']
      : [500, 'internal', 'internal error'];
  request.log[status >= 500 ? 'error' : 'info']({ code: err.code, status }, err.message);
  void reply.header('X-Correlation-Id', request.id).status(status).send({ error: { code, message } });
}

/**
 * Requests Node's HTTP parser refuses (an unknown method, a malformed header, headers too large)
 * never reach a route or the error handler; this answers them in the contract's shape too.
 * Passed to Fastify as its `clientErrorHandler`.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  // A reset connection has nobody left to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'request_timeout', 'the request took too long to arrive']
    : err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'headers_too_large', 'the request headers are too large']
      : [400, 'malformed_request', 'the request is not valid HTTP/1.1'];
  const body = JSON.stringify({ error: { code, message } });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}
