// Shared process lifecycle for the worker entry points: config, connection, logs and metrics,
// the ops endpoints, graceful shutdown.
import { NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { pino } from 'pino';
import { loadConfig, workerOps, type SecretName, type WorkerOpsConfig } from '../infra/config.ts';
import { correlationMixin } from '../infra/correlation.ts';
import { ConfigError } from '../lib/errors.ts';
import type { Config } from '../infra/config.ts';
import type { ReadinessCheck } from '../infra/readiness.ts';
import { startOpsServer } from './ops-server.ts';
import { runtimeOptions, sdkMetricsUrl } from './telemetry.ts';

export interface BuiltWorker {
  worker: Worker;
  run(): Promise<void>;
  /** readiness checks of what this worker depends on; its own state is always checked too */
  checks?: Record<string, ReadinessCheck>;
  /** more of the worker's state in /readyz's answer */
  details?: () => Record<string, unknown>;
}

export async function runWorkerProcess<Opened = undefined>(
  name: string,
  needs: SecretName[],
  build: (config: Config, connection: NativeConnection, log: pino.Logger, opened: Opened) => Promise<BuiltWorker>,
  /** default ops ports (WORKER_HTTP_PORT, TEMPORAL_METRICS_ADDRESS), distinct per worker kind */
  opsPorts: { httpPort: number; sdkMetricsPort: number } = { httpPort: 9091, sdkMetricsPort: 9191 },
  /**
   * What the worker opens before it connects anywhere (the signing key's store): a ConfigError
   * there stops the process at start like a malformed variable.
   */
  open?: (config: Config) => Promise<Opened>,
): Promise<void> {
  let config: Config;
  let opened: Opened;
  try {
    // The relay secret is loaded where set: a container host without it serves no subject access.
    config = loadConfig(process.env, needs, ['RELAY_HMAC_SECRET']);
    opened = open ? await open(config) : (undefined as Opened);
  } catch (err) {
    if (err instanceof ConfigError) {
      // LOG_LEVEL itself may be what is wrong, so this line ignores it; stderr, as a process that
      // cannot start says why.
      pino({ name }, pino.destination({ dest: 2, sync: true })).fatal(err.message);
      process.exit(2);
    }
    throw err;
  }
  // Lines logged inside an activity (or any correlation context) carry its correlation id.
  const log = pino({ name, level: config.logLevel, mixin: correlationMixin });
  const ops: WorkerOpsConfig = workerOps(config, opsPorts);
  for (const w of config.warnings) log.warn(w);
  Runtime.install(runtimeOptions(log, ops));
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  try {
    const built = await build(config, connection, log, opened);
    log.info({ taskQueue: built.worker.options.taskQueue, temporal: config.temporalAddress }, `${name} started`);
    const checks: Record<string, ReadinessCheck> = {
      ...built.checks,
      worker: async () => (built.worker.getState() === 'RUNNING' ? true : `failing: worker is ${built.worker.getState()}`),
    };
    const server = ops.http
      ? await startOpsServer({ ...ops.http, checks, sdkMetricsUrl: ops.sdkMetricsAddress && sdkMetricsUrl(ops.sdkMetricsAddress), log, details: built.details })
      : undefined;
    if (server) log.info({ url: server.url, sdkMetrics: ops.sdkMetricsAddress }, 'ops endpoints: /healthz /readyz /metrics');
    try {
      await built.run();
    } finally {
      await server?.close();
    }
    log.info(`${name} stopped`);
  } finally {
    await connection.close();
  }
}
