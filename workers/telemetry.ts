// How a worker process reports: Temporal's runtime logger (workflow and activity `log` lines,
// SDK events) goes to the process's pino logger as JSON, and the SDK's own metrics are exported in
// Prometheus format on a loopback port that the ops server's /metrics folds in.
import { DefaultLogger, type LogLevel, type RuntimeOptions } from '@temporalio/worker';
import type { Logger } from 'pino';
import { ConfigError } from '../lib/errors.ts';

const PINO_TO_TEMPORAL: Record<string, LogLevel> = { trace: 'TRACE', debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR', fatal: 'ERROR' };

/** A Temporal runtime logger that writes through pino (same JSON lines, same mixins, same level). */
export function temporalLogger(log: Logger): DefaultLogger {
  return new DefaultLogger(PINO_TO_TEMPORAL[log.level] ?? 'INFO', ({ level, message, meta }) => {
    const method = level === 'TRACE' ? 'trace' : level === 'DEBUG' ? 'debug' : level === 'WARN' ? 'warn' : level === 'ERROR' ? 'error' : 'info';
    // An activity's task token can complete it: it stays out of the logs.
    const { taskToken: _taskToken, ...fields } = meta ?? {};
    log[method](fields, message);
  });
}

export interface WorkerOpsConfig {
  /** the ops server (/healthz, /readyz, /metrics); undefined when WORKER_HTTP_PORT=off */
  http: { host: string; port: number } | undefined;
  /** where the SDK's Prometheus exporter listens; undefined when TEMPORAL_METRICS_ADDRESS=off */
  sdkMetricsAddress: string | undefined;
}

/**
 * WORKER_HTTP_HOST (default 127.0.0.1), WORKER_HTTP_PORT and TEMPORAL_METRICS_ADDRESS (host:port),
 * each "off" to disable. Defaults differ per worker kind so both fit on one machine.
 */
export function workerOpsConfig(env: NodeJS.ProcessEnv, defaults: { httpPort: number; sdkMetricsPort: number }): WorkerOpsConfig {
  const host = env.WORKER_HTTP_HOST ?? '127.0.0.1';
  const rawPort = env.WORKER_HTTP_PORT ?? String(defaults.httpPort);
  let http: WorkerOpsConfig['http'];
  if (rawPort !== 'off') {
    const port = Number(rawPort);
    if (!/^[0-9]{1,5}$/.test(rawPort) || port > 65535) throw new ConfigError(`WORKER_HTTP_PORT must be a port number or "off", got "${rawPort}"`);
    http = { host, port };
  }
  const rawSdk = env.TEMPORAL_METRICS_ADDRESS ?? `127.0.0.1:${defaults.sdkMetricsPort}`;
  if (rawSdk !== 'off' && !/^[A-Za-z0-9.:[\]-]+:[0-9]{1,5}$/.test(rawSdk)) {
    throw new ConfigError(`TEMPORAL_METRICS_ADDRESS must be host:port or "off", got "${rawSdk}"`);
  }
  return { http, sdkMetricsAddress: rawSdk === 'off' ? undefined : rawSdk };
}

export function runtimeOptions(log: Logger, ops: WorkerOpsConfig): RuntimeOptions {
  return {
    logger: temporalLogger(log),
    telemetryOptions: {
      // Core's own warnings and errors go through the same logger instead of straight to stderr.
      logging: { forward: {}, filter: { core: 'WARN', other: 'ERROR' } },
      ...(ops.sdkMetricsAddress ? { metrics: { prometheus: { bindAddress: ops.sdkMetricsAddress, countersTotalSuffix: true, useSecondsForDurations: true } } } : {}),
    },
    // SIGINT/SIGTERM trigger the SDK's graceful shutdown: running activities are given time to end.
    shutdownSignals: ['SIGINT', 'SIGTERM'],
  };
}

/** The URL the ops server fetches the SDK's metrics from (a wildcard bind is read over loopback). */
export function sdkMetricsUrl(address: string): string {
  const [, host = '', port = ''] = /^(.*):([0-9]+)$/.exec(address) ?? [];
  const local = host === '0.0.0.0' || host === '[::]' || host === '' ? '127.0.0.1' : host;
  return `http://${local}:${port}/metrics`;
}
