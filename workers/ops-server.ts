// A worker's ops endpoints, on a small HTTP server of their own (loopback by default):
//   GET /healthz   the process answers
//   GET /readyz    the same checks as the API's /readyz (infra/readiness.ts), plus the worker's state;
//                  503 names each failing check
//   GET /metrics   Arbiter's metrics (infra/metrics.ts) followed by the Temporal SDK's own
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { metricsText } from '../infra/metrics.ts';
import { runReadiness, type ReadinessCheck } from '../infra/readiness.ts';

export interface OpsServer {
  /** http://host:port */
  url: string;
  close(): Promise<void>;
}

export interface OpsServerOptions {
  host: string;
  port: number;
  checks: Record<string, ReadinessCheck>;
  /** the SDK's Prometheus endpoint, appended to /metrics when given */
  sdkMetricsUrl?: string | undefined;
  log: Pick<Logger, 'warn'>;
  /** more of the worker's state in /readyz's answer (the container worker's warm pools) */
  details?: (() => Record<string, unknown>) | undefined;
}

export async function startOpsServer(opts: OpsServerOptions): Promise<OpsServer> {
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
  };

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') return json(res, 405, { error: { code: 'method_not_allowed', message: `${req.method ?? ''} is not allowed` } });
    switch (path) {
      case '/healthz':
        return json(res, 200, { status: 'ok' });
      case '/readyz': {
        const { ready, checks, failing } = await runReadiness(opts.checks);
        if (!ready) opts.log.warn({ failing, checks }, 'not ready');
        const details = opts.details?.() ?? {};
        return ready ? json(res, 200, { status: 'ready', checks, ...details }) : json(res, 503, { status: 'not_ready', checks, failing, ...details });
      }
      case '/metrics': {
        const { contentType, body } = await metricsText();
        res.writeHead(200, { 'content-type': contentType });
        res.end(body + (opts.sdkMetricsUrl ? await sdkMetrics(opts.sdkMetricsUrl) : ''));
        return;
      }
      default:
        return json(res, 404, { error: { code: 'not_found', message: `no route GET ${path ?? ''}` } });
    }
  }

  async function sdkMetrics(url: string): Promise<string> {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      return `\n# Temporal SDK metrics (${url})\n${await r.text()}`;
    } catch (err) {
      opts.log.warn({ url, err: (err as Error).message }, 'Temporal SDK metrics unavailable');
      return `\n# Temporal SDK metrics unavailable at ${url}\n`;
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      opts.log.warn({ err: (err as Error).message, url: req.url }, 'ops request failed');
      if (!res.headersSent) json(res, 500, { error: { code: 'internal', message: 'internal error' } });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
