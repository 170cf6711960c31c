// Liveness and readiness. Readiness names every failing dependency so an operator knows where to look.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';

export type ReadinessCheck = () => Promise<string | true>;

const health: FastifyPluginAsyncTypebox<{ checks: Record<string, ReadinessCheck> }> = async (app, opts) => {
  app.get('/healthz', { schema: { response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', {
    schema: {
      response: {
        200: Type.Object({ status: Type.Literal('ready'), checks: Type.Record(Type.String(), Type.String()) }),
        503: Type.Object({ status: Type.Literal('not_ready'), checks: Type.Record(Type.String(), Type.String()), failing: Type.Array(Type.String()) }),
      },
    },
  }, async (request, reply) => {
    const entries = await Promise.all(Object.entries(opts.checks).map(async ([name, check]) => {
      try {
        const r = await check();
        return [name, r === true ? 'ok' : r] as const;
      } catch (err) {
        return [name, `failing: ${(err as Error).message}`] as const;
      }
    }));
    const checks = Object.fromEntries(entries);
    const failing = entries.filter(([, v]) => v !== 'ok' && !v.startsWith('ok ')).map(([k]) => k);
    if (failing.length) {
      request.log.warn({ failing, checks }, 'not ready');
      return reply.status(503).send({ status: 'not_ready' as const, checks, failing });
    }
    return { status: 'ready' as const, checks };
  });
};
export default health;
