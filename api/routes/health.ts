// Liveness and readiness. Readiness names every failing dependency so an operator knows where to look.
// Probes are exempt from the per-client rate limit: a load balancer or an orchestrator probes from
// one address, and a healthy server must never answer its health check with 429.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { runReadiness, type ReadinessCheck } from '../../infra/readiness.ts';

export type { ReadinessCheck };

const health: FastifyPluginAsyncTypebox<{ checks: Record<string, ReadinessCheck> }> = async (app, opts) => {
  app.get('/healthz', { config: { rateLimit: false }, schema: { response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', {
    config: { rateLimit: false },
    schema: {
      response: {
        200: Type.Object({ status: Type.Literal('ready'), checks: Type.Record(Type.String(), Type.String()) }),
        503: Type.Object({ status: Type.Literal('not_ready'), checks: Type.Record(Type.String(), Type.String()), failing: Type.Array(Type.String()) }),
      },
    },
  }, async (request, reply) => {
    const { checks, failing } = await runReadiness(opts.checks);
    if (failing.length) {
      request.log.warn({ failing, checks }, 'not ready');
      return reply.status(503).send({ status: 'not_ready' as const, checks, failing });
    }
    return { status: 'ready' as const, checks };
  });
};
export default health;
