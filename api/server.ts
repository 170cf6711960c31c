// The API process: validated config, a Temporal client, listen, and close with grace on a signal.
import Docker from 'dockerode';
import { Client, Connection } from '@temporalio/client';
import { pino } from 'pino';
import { loadConfig } from '../lib/config.ts';
import { ConfigError } from '../lib/errors.ts';
import { loadPlans } from '../lib/plans.ts';
import { DEFAULT_TEMPLATES_DIR } from '../lib/template.ts';
import { DEFAULT_POLICY_DIR, loadPolicy } from '../activities/policy.ts';
import { buildApp } from './app.ts';
import { readinessChecks } from './readiness.ts';

const logger = pino({ name: 'arbiter-api', level: process.env.LOG_LEVEL ?? 'info' });
let config;
try {
  config = loadConfig(process.env, ['ET_HMAC_SECRET', 'SAT_HMAC_SECRET', 'OPERATOR_HMAC_SECRET', 'COMPLETION_HMAC_SECRET']);
} catch (err) {
  if (err instanceof ConfigError) {
    logger.fatal(err.message);
    process.exit(2);
  }
  throw err;
}
for (const w of config.warnings) logger.warn(w);

const policy = await loadPolicy(config.policyDir ?? DEFAULT_POLICY_DIR, config.policySha256 ? { expectedSha256: config.policySha256 } : undefined)
  .catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
if (policy instanceof Error) logger.error({ err: policy.message }, 'policy bundle could not be loaded');
else logger.info({ policySha256: policy.sha256 }, 'policy bundle loaded');

const connection = await Connection.connect({ address: config.temporalAddress });
const temporal = new Client({ connection, namespace: config.temporalNamespace });
const docker = new Docker({ socketPath: config.dockerSocket });
const app = await buildApp({
  config,
  temporal,
  plans: loadPlans(),
  templatesDir: DEFAULT_TEMPLATES_DIR,
  checks: readinessChecks({ config, temporal: connection, docker, policy }),
  logger: { level: config.logLevel, name: 'arbiter-api' },
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
