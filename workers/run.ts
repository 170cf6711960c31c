// Shared process lifecycle for the worker entry points: config, connection, graceful shutdown.
import { NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { pino } from 'pino';
import { loadConfig, type SecretName } from '../lib/config.ts';
import { ConfigError } from '../lib/errors.ts';
import type { Config } from '../lib/config.ts';

export async function runWorkerProcess(
  name: string,
  needs: SecretName[],
  build: (config: Config, connection: NativeConnection, log: pino.Logger) => Promise<{ worker: Worker; run(): Promise<void> }>,
): Promise<void> {
  const log = pino({ name, level: process.env.LOG_LEVEL ?? 'info' });
  let config: Config;
  try {
    config = loadConfig(process.env, needs);
  } catch (err) {
    if (err instanceof ConfigError) {
      log.fatal(err.message);
      process.exit(2);
    }
    throw err;
  }
  for (const w of config.warnings) log.warn(w);
  // SIGINT/SIGTERM trigger the SDK's graceful shutdown: running activities are given time to end.
  Runtime.install({ shutdownSignals: ['SIGINT', 'SIGTERM'] });
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  try {
    const built = await build(config, connection, log);
    log.info({ taskQueue: built.worker.options.taskQueue, temporal: config.temporalAddress }, `${name} started`);
    await built.run();
    log.info(`${name} stopped`);
  } finally {
    await connection.close();
  }
}
