// The API process: validated config, a Temporal client, listen, and close with grace on a signal.
import Docker from 'dockerode';
import { Client, Connection } from '@temporalio/client';
import { pino } from 'pino';
import { loadConfig } from '../lib/config.ts';
import { ConfigError } from '../lib/errors.ts';
import { loadPlans } from '../lib/plans.ts';
import { DEFAULT_TEMPLATES_DIR } from '../lib/template.ts';
import { openPolicy, remotePolicyFromEnv } from '../activities/policy.ts';
import { buildApp } from './app.ts';
import { readinessChecks } from './readiness.ts';
import { correlationClientInterceptor } from './correlation.ts';
import { SEARCH_ATTRIBUTES } from '../workflows/shared.ts';

const logger = pino({ name: 'arbiter-api', level: process.env.LOG_LEVEL ?? 'info' });
let config;
try {
  // Billing receipts are optional: without BILLING_HMAC_SECRET the receipts route refuses them.
  const billing = process.env.BILLING_HMAC_SECRET ? (['BILLING_HMAC_SECRET'] as const) : [];
  config = loadConfig(process.env, ['ET_HMAC_SECRET', 'SAT_HMAC_SECRET', 'OPERATOR_HMAC_SECRET', 'COMPLETION_HMAC_SECRET', ...billing]);
} catch (err) {
  if (err instanceof ConfigError) {
    logger.fatal(err.message);
    process.exit(2);
  }
  throw err;
}
for (const w of config.warnings) logger.warn(w);

let remotePolicy;
try {
  remotePolicy = remotePolicyFromEnv(process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  logger.fatal(err.message);
  process.exit(2);
}
// A policy that cannot be loaded (or a server that cannot be reached) fails readiness rather
// than the process, so the API still answers /readyz and says why.
const policy = await openPolicy({ dir: config.policyDir, expectedSha256: config.policySha256, remote: remotePolicy })
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
    ...(process.env.ARBITER_READYZ_DOCKER === 'off' ? {} : { docker }),
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
