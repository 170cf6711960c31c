// GET /metrics (Prometheus text) and the request latency histogram behind it. Registered as a
// non-encapsulated plugin so its onResponse hook times every route of the app.
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { Gauge, Registry } from 'prom-client';
import { Type } from 'typebox';
import { httpRequestDuration, metricsText } from '../../infra/metrics.ts';
import { STATUSES, type ScenarioStatus } from '../../contract/scenario.ts';

export interface MetricsOptions {
  /** counts scenario workflows by their ArbiterStatus search attribute (Temporal visibility) */
  countScenarios?: (status: ScenarioStatus) => Promise<number>;
}

export default fp(async function metrics(app: FastifyInstance, opts: MetricsOptions) {
  // Per app, not global: tests build several apps in one process, each with its own client.
  const perApp = new Registry();
  const count = opts.countScenarios;
  if (count) {
    new Gauge({
      name: 'arbiter_scenarios',
      help: 'Scenario workflows by status, from Temporal visibility (ArbiterStatus search attribute), at scrape time',
      labelNames: ['status'] as const,
      registers: [perApp],
      async collect() {
        // One visibility count per status; a status whose count fails is left out of this scrape.
        await Promise.all(STATUSES.map(async (status) => {
          try {
            this.set({ status }, await count(status));
          } catch (err) {
            app.log.warn({ status, err: (err as Error).message }, 'scenario count failed');
          }
        }));
      },
    });
  }

  app.addHook('onResponse', async (request, reply) => {
    httpRequestDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  // Scrapes are exempt from the per-client rate limit, like the probes (routes/health.ts).
  app.get('/metrics', {
    config: { rateLimit: false },
    schema: {
      summary: 'Prometheus metrics: request latency, scenarios by status, launch latency, quota rejections, policy denies',
      response: { 200: { description: 'Prometheus text exposition format 0.0.4', content: { 'text/plain': { schema: Type.String() } } } },
    },
  }, async (_request, reply) => {
    const { contentType, body } = await metricsText([perApp]);
    return reply.type(contentType).send(body);
  });
}, { name: 'arbiter-metrics' });
