// The API as a Fastify plugin tree: built here, listened on by server.ts, injected into by tests.
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Client } from '@temporalio/client';
import type { Config } from '../lib/config.ts';
import type { Plans } from '../lib/plans.ts';
import authPlugin from './plugins/auth.ts';
import errorsPlugin from './plugins/errors.ts';
import health, { type ReadinessCheck } from './routes/health.ts';
import keyRoutes from './routes/keys.ts';
import satRoutes from './routes/sat.ts';
import scenarioRoutes from './routes/scenarios.ts';
import { ScenarioService } from './scenarios.ts';

export interface AppDeps {
  config: Config;
  temporal: Client;
  plans: Plans;
  templatesDir: string;
  checks: Record<string, ReadinessCheck>;
  logger?: FastifyServerOptions['logger'];
}

const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: 64 * 1024,
    // The correlation id comes from the caller when it is sane, else is new; it is the request id,
    // so every log line of this request carries it.
    genReqId: (req) => {
      const given = req.headers['x-correlation-id'];
      return typeof given === 'string' && CORRELATION_ID.test(given) ? given : randomUUID();
    },
    requestIdLogLabel: 'correlationId',
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addHook('onRequest', async (request, reply) => {
    void reply.header('X-Correlation-Id', request.id);
  });

  await app.register(errorsPlugin);
  await app.register(authPlugin, { config: deps.config });
  await app.register(health, { checks: deps.checks });
  await app.register(keyRoutes, { keysDir: deps.config.keysDir });
  await app.register(satRoutes, { config: deps.config, plans: deps.plans, templatesDir: deps.templatesDir });
  await app.register(scenarioRoutes, { service: new ScenarioService(deps.temporal, deps.config.storageDir) });
  return app;
}
