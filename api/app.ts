// The API as a Fastify plugin tree: built here, listened on by server.ts, injected into by tests.
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyPluginAsync, type FastifyPluginOptions, type FastifyServerOptions } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Client } from '@temporalio/client';
import type { Config } from '../infra/config.ts';
import type { Plans } from '../infra/plans.ts';
import { openArtifactStore, type ArtifactStore } from '../infra/artifact-store.ts';
import authPlugin from './plugins/auth.ts';
import errorsPlugin, { clientErrorHandler, frameworkErrors } from './plugins/errors.ts';
import jsonBodyPlugin from './plugins/json-body.ts';
import health, { type ReadinessCheck } from './routes/health.ts';
import keyRoutes from './routes/keys.ts';
import satRoutes from './routes/sat.ts';
import scenarioRoutes from './routes/scenarios.ts';
import completionTokenRoutes from './routes/completion-token.ts';
import { scenarioService } from './services/scenarios.ts';
import { entitlementService } from './services/entitlements.ts';
import { quotaService, type QuotaTiming } from './services/quota.ts';
import { spawnService } from './services/spawn.ts';
import type { ServiceKey, ServiceReplacements } from './services/index.ts';
import billingRoutes from './routes/billing.ts';
import rateLimit from '@fastify/rate-limit';
import operatorAuditPlugin from './plugins/operator-audit.ts';
import retentionRoutes from './routes/retention.ts';
import verifierRoutes from './routes/verifier.ts';
import subjectPageRoutes from './routes/subject-page.ts';
import accessRoutes from './routes/access.ts';
import websocket from '@fastify/websocket';
import { retentionService, type Clock } from './services/retention.ts';
import openapiPlugin from './plugins/openapi.ts';
import metricsPlugin from './routes/metrics.ts';
import { runWithCorrelation } from '../infra/correlation.ts';
import { SCENARIO_WORKFLOW_TYPE } from '../contract/queues.ts';

export interface AppDeps {
  config: Config;
  /** the real services' Temporal client; only an app whose every service is replaced may go without */
  temporal?: Client;
  plans: Plans;
  templatesDir: string;
  checks: Record<string, ReadinessCheck>;
  logger?: FastifyServerOptions['logger'];
  /** the clock the retention sweep judges deadlines by (default the wall clock; time-skipping tests pass the test server's) */
  retentionClock?: Clock;
  /** where verdicts, tombstones and the JWKS are read; default: the one config selects */
  store?: ArtifactStore;
  /** how often a quota entity checks that its lease holders still live; how long an unstarted holder may take */
  quotaTiming?: QuotaTiming;
  /** per-client HTTP requests per minute (@fastify/rate-limit) */
  httpRateLimitPerMinute?: number;
  /**
   * Plugins registered instead of the real services (api/services/index.ts: `servicePlugin` builds one),
   * so that a test can answer for Temporal, Docker and the disk.
   */
  services?: ServiceReplacements;
}

/** The OpenAPI document's version: the contract's. */
const API_VERSION = '1.0.0';
const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: 64 * 1024,
    clientErrorHandler,
    frameworkErrors,
    // The correlation id comes from the caller when it is sane, else is new; it is the request id,
    // so every log line of this request carries it.
    genReqId: (req) => {
      const given = req.headers['x-correlation-id'];
      return typeof given === 'string' && CORRELATION_ID.test(given) ? given : randomUUID();
    },
    logController: new LogController({ requestIdLogLabel: 'correlationId' }),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addHook('onRequest', async (request, reply) => {
    void reply.header('X-Correlation-Id', request.id);
  });
  // The rest of the request runs in its correlation context: Temporal calls made while handling
  // it carry the id in a header (api/correlation.ts), on to the workflow and its activities.
  app.addHook('onRequest', (request, _reply, done) => runWithCorrelation({ correlationId: request.id }, done));

  await app.register(errorsPlugin);
  await app.register(jsonBodyPlugin);
  await app.register(openapiPlugin, { version: API_VERSION });
  const { temporal } = deps;
  await app.register(metricsPlugin, temporal ? {
    // Bounded, so a scrape while Temporal is down answers (without the gauge) instead of hanging.
    countScenarios: (status) => temporal.withDeadline(Date.now() + 2_000, () =>
      temporal.workflow.count(`WorkflowType = '${SCENARIO_WORKFLOW_TYPE}' AND ArbiterStatus = '${status}'`)).then((r) => r.count),
  } : {});
  await app.register(rateLimit, {
    max: deps.httpRateLimitPerMinute ?? 600,
    timeWindow: '1 minute',
    // The contract's error shape for 429s too; Retry-After is set by the plugin.
    errorResponseBuilder: (_request, context) => ({ statusCode: 429, code: 'rate_limited', error: 'Too Many Requests', message: `too many requests: retry in ${context.after}` }),
  });
  await app.register(websocket, { options: { maxPayload: 1024 * 1024 } });
  await app.register(authPlugin, { config: deps.config });
  await app.register(operatorAuditPlugin, { storageDir: deps.config.storageDir, temporal: deps.temporal });
  await app.register(health, { checks: deps.checks });
  const store = deps.store ?? openArtifactStore(deps.config);
  await app.register(keyRoutes, { keysDir: deps.config.keysDir, store });

  // The services, in the order their `dependencies` need; each real one is built only if nothing
  // replaces it, so an app whose services are all replaced never asks for a Temporal client.
  const service = async <O extends FastifyPluginOptions>(key: ServiceKey, real: FastifyPluginAsync<O>, opts: () => O): Promise<void> => {
    const replacement = deps.services?.[key];
    if (replacement) await app.register(replacement);
    else await app.register(real, opts());
  };
  const client = (): Client => {
    if (!deps.temporal) throw new Error('buildApp: a real service needs the Temporal client (pass `temporal`, or replace every service)');
    return deps.temporal;
  };
  const { storageDir } = deps.config;
  await service('retention', retentionService, () => ({ temporal: client(), store, plans: deps.plans, clock: deps.retentionClock }));
  await service('scenarios', scenarioService, () => ({ temporal: client(), store }));
  await service('entitlements', entitlementService, () => ({ temporal: client(), storageDir }));
  await service('quota', quotaService, () => ({ temporal: client(), timing: deps.quotaTiming ?? { reapIntervalSeconds: 60, startGraceSeconds: 120 } }));
  await service('spawn', spawnService, () => ({ plans: deps.plans }));

  await app.register(satRoutes, { config: deps.config, plans: deps.plans, templatesDir: deps.templatesDir });
  await app.register(billingRoutes, { config: deps.config, plans: deps.plans });
  await app.register(scenarioRoutes, { config: deps.config, plans: deps.plans });
  await app.register(accessRoutes, { config: deps.config, templatesDir: deps.templatesDir });
  await app.register(completionTokenRoutes, { config: deps.config });
  await app.register(retentionRoutes);
  await app.register(verifierRoutes);
  await app.register(subjectPageRoutes);
  return app;
}
