// How a worker process reports: Temporal's runtime logger (workflow and activity `log` lines,
// SDK events) goes to the process's pino logger as JSON, and the SDK's own metrics are exported in
// Prometheus format on a loopback port that the ops server's /metrics folds in.
import { DefaultLogger, type LogLevel, type RuntimeOptions } from '@temporalio/worker';
import type { Logger } from 'pino';
import type { WorkerOpsConfig } from '../infra/config.ts';

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
