// The OpenAPI document, generated from the routes' own TypeBox schemas (so it cannot drift from
// what the API validates), served as JSON at /openapi.json and browsable at /docs. Registered
// before the routes: @fastify/swagger collects them as they are added.
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifySchema } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { declaredAuth } from './auth.ts';
import { ErrorBody } from '../schemas.ts';

export const OPENAPI_JSON = '/openapi.json';
export const DOCS_PREFIX = '/docs';

type Responses = Record<string, unknown>;
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const RETRY_AFTER = { 'Retry-After': { type: 'string', description: 'seconds until a request may succeed again' } };

/**
 * The error answers Arbiter's plugins give on any route with the feature that causes them, added to
 * the route's own list so that the document names every status the route can answer:
 * - a bearer token (plugins/auth.ts): 401 missing, malformed, expired or badly signed; 403 a valid token of a kind the route does not take;
 * - path parameters: 400 one that breaks its pattern, or bad percent-encoding; 414 one over the router's length limit;
 * - a query string or a body (the latter for every method Fastify reads a body on, schema or not):
 *   400 one that breaks its schema or is not JSON, 413 over the body limit, 415 a content type the route does not read;
 * - the per-client rate limit (@fastify/rate-limit, unless the route opts out): 429 with Retry-After.
 */
function implicitResponses(schema: { params?: unknown; querystring?: unknown }, methods: string[], config: unknown): Responses {
  const error = (description: string) => ({ ...ErrorBody, description });
  const out: Responses = {};
  if (declaredAuth(config)) Object.assign(out, { 401: error('no token, or one that is malformed, expired or badly signed'), 403: error('not allowed: a token of a kind this route does not take, or a refusal the code names') });
  if (schema.params) Object.assign(out, { 400: error('a path parameter breaks its pattern, or the URL\'s percent-encoding is bad'), 414: error('a path parameter is longer than the router takes') });
  if (schema.querystring) out[400] = error('a bad path parameter or query string');
  if (methods.some((m) => BODY_METHODS.has(m))) {
    Object.assign(out, { 400: error('a bad request: the body is not JSON or breaks its schema, or a parameter is bad'), 413: error('the body is larger than the route takes'), 415: error('a content type the route does not read') });
  }
  if ((config as { rateLimit?: unknown } | undefined)?.rateLimit !== false) out[429] = { ...error('too many requests from this client: retry after Retry-After seconds'), headers: RETRY_AFTER };
  return out;
}

/** Tags group the routes in the UI; a route's tag is decided by its path. */
function tagOf(url: string): string {
  if (url.startsWith('/api/scenarios')) return 'scenarios';
  if (url === '/api/spawn' || url === '/api/sat') return 'spawn';
  if (url.startsWith('/api/')) return url.split('/')[2] ?? 'api';
  return 'operations';
}

export default fp(async function openapi(app: FastifyInstance, opts: { version: string }) {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Arbiter API',
        version: opts.version,
        description: 'Policy-gated, hardened scenarios with signed verdicts. Errors are `{ "error": { "code", "message" } }`; '
          + 'every response carries `X-Correlation-Id`. The contract is CONTRACT.md.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'ET, SAT, operator or completion token, as the route says' },
        },
      },
    },
    transform: ({ schema, url, route }) => {
      if (!schema) return { schema, url };
      const s = schema as FastifySchema & { tags?: string[]; security?: unknown[]; hide?: boolean; description?: string };
      if (s.hide) return { schema, url };
      // Security comes from the route's own auth declaration (plugins/auth.ts), the same one
      // the auth hook enforces, so the document cannot claim a token where none is checked.
      const auth = declaredAuth(route.config);
      const own = (s.response ?? {}) as Responses;
      // The route's own entry for a status wins where it says more than the bare error body; a 429 always
      // gets the Retry-After header both limiters (the plugin's and the quota's) send.
      const implicit = implicitResponses(s, [route.method].flat(), route.config);
      const response: Responses = { ...implicit };
      for (const [code, entry] of Object.entries(own)) response[code] = entry === ErrorBody && implicit[code] ? implicit[code] : entry;
      if (response[429]) response[429] = { ...(response[429]), headers: RETRY_AFTER };
      return {
        url,
        schema: {
          ...s,
          response,
          tags: s.tags ?? [tagOf(url)],
          security: auth ? [{ bearer: [] }] : [],
          // Machine-readable for clients and conformance tools: which token kinds the route takes.
          ...(auth ? { 'x-arbiter-tokens': [...auth], description: [s.description, `Token: ${auth.join(' or ')}.`].filter(Boolean).join(' ') } : {}),
        },
      };
    },
  });
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX });
  app.get(OPENAPI_JSON, { schema: { hide: true } }, async () => app.swagger());
}, { name: 'arbiter-openapi' });
