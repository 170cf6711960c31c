// The API process: validated config, a Temporal client, listen, and close with grace on a signal.
import Docker from 'dockerode';
import { Client, Connection } from '@temporalio/client';
import { pino } from 'pino';
import { loadConfig, type Config } from '../infra/config.ts';
import { ConfigError } from '../lib/errors.ts';
import { loadPlans } from '../infra/plans.ts';
import { DEFAULT_TEMPLATES_DIR } from '../infra/template.ts';
import { openPolicy } from '../infra/policy/wasm-engine.ts';
import { buildApp } from './app.ts';
import { readinessChecks } from './readiness.ts';
import { correlationClientInterceptor } from './correlation.ts';
import { SEARCH_ATTRIBUTES } from '../contract/queues.ts';

let config: Config;
try {
  // Billing receipts are optional: without BILLING_HMAC_SECRET the receipts route refuses them.
  config = loadConfig(process.env, ['ET_HMAC_SECRET', 'SAT_HMAC_SECRET', 'OPERATOR_HMAC_SECRET', 'COMPLETION_HMAC_SECRET'], ['BILLING_HMAC_SECRET', 'RELAY_HMAC_SECRET']);
} catch (err) {
  if (err instanceof ConfigError) {
    // LOG_LEVEL itself may be what is wrong, so this line ignores it; stderr, as a process that
    // cannot start says why.
    pino({ name: 'arbiter-api' }, pino.destination({ dest: 2, sync: true })).fatal(err.message);
    process.exit(2);
  }
  throw err;
}
const logger = pino({ name: 'arbiter-api', level: config.logLevel });
for (const w of config.warnings) logger.warn(w);

// A policy that cannot be loaded (or a server that cannot be reached) fails readiness rather
// than the process, so the API still answers /readyz and says why.
const policy = await openPolicy({ dir: config.policyDir, expectedSha256: config.policySha256, remote: config.opa })
  .catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
if (policy instanceof Error) logger.error({ err: policy.message }, 'policy bundle could not be loaded');
else logger.info({ policySha256: policy.sha256, policySource: policy.source }, 'policy bundle loaded');

const connection = await Connection.connect({ address: config.temporalAddress });
const temporal = new Client({ connection, namespace: config.temporalNamespace, interceptors: { workflow: [correlationClientInterceptor()] } });
const docker = new Docker({ socketPath: config.dockerSocket });
const app = await buildApp({
  config,
  temporal,
  plans: loadPlans(),
  templatesDir: DEFAULT_TEMPLATES_DIR,
  checks: readinessChecks({
    config,
    temporal: connection,
    // Off where the API has no Docker socket (deploy/): each container worker's /readyz checks its engine.
    ...(config.readyzDocker ? { docker } : {}),
    policy,
    searchAttributes: { connection, namespace: config.temporalNamespace, wanted: SEARCH_ATTRIBUTES },
  }),
  logger: { level: config.logLevel, name: 'arbiter-api' },
  quotaTiming: { reapIntervalSeconds: config.leaseCheckSeconds, startGraceSeconds: config.leaseStartGraceSeconds },
  httpRateLimitPerMinute: config.httpRateLimitPerMinute,
});

let closing = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'closing: finishing in-flight requests');
    void app.close().then(() => connection.close()).then(() => process.exit(0));
  });
}

await app.listen({ port: config.port, host: config.host });
