// The OpenAPI document, generated from the routes' own TypeBox schemas (so it cannot drift from
// what the API validates), served as JSON at /openapi.json and browsable at /docs. Registered
// before the routes: @fastify/swagger collects them as they are added.
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifySchema } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { declaredAuth } from './auth.ts';

export const OPENAPI_JSON = '/openapi.json';
export const DOCS_PREFIX = '/docs';

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
      return {
        url,
        schema: {
          ...s,
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
