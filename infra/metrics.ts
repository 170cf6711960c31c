// Arbiter's own Prometheus metrics, in one registry every process exposes on /metrics (the API on
// its port, each worker on its ops port). Code anywhere increments them by importing this module:
//   import { quotaRejections } from './metrics.ts'; quotaRejections.inc({ reason: 'quota' });
// Label values are bounded sets (routes, statuses, activity types): never a tenant, subject or id.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry });

export const httpRequestDuration = new Histogram({
  name: 'arbiter_http_request_duration_seconds',
  help: 'HTTP request latency of the API, by route template, method and status code',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15],
  registers: [registry],
});

export const launchDuration = new Histogram({
  name: 'arbiter_launch_duration_seconds',
  help: 'launchContainer, from scheduled to the container running (queueing on the host queue and retries included)',
  buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120],
  registers: [registry],
});

export const activityDuration = new Histogram({
  name: 'arbiter_activity_duration_seconds',
  help: 'Activity execution time on this worker, by activity type and outcome',
  labelNames: ['activity', 'outcome'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
  registers: [registry],
});

export const quotaRejections = new Counter({
  name: 'arbiter_quota_rejections_total',
  help: 'Spawns refused by quota (concurrent scenarios) or rate (spawns per minute)',
  labelNames: ['reason'] as const,
  registers: [registry],
});

export const policyDenies = new Counter({
  name: 'arbiter_policy_denies_total',
  help: 'Spawns the OPA policy denied',
  registers: [registry],
});

// Warm pools (workers/pool-keeper.ts), on the container worker. The key is a pool's, a bounded
// set (one per template version, policy bundle and hardening the host keeps).
export const poolReady = new Gauge({
  name: 'arbiter_pool_ready',
  help: 'Ready (complete, running, unclaimed) entries of each warm pool on this host',
  labelNames: ['template', 'key'] as const,
  registers: [registry],
});

export const poolHits = new Counter({
  name: 'arbiter_pool_hits_total',
  help: 'Launches that claimed a warm pool entry',
  labelNames: ['template'] as const,
  registers: [registry],
});

export const poolMisses = new Counter({
  name: 'arbiter_pool_misses_total',
  help: 'Launches of a template whose pool this host keeps that found no ready entry and started cold',
  labelNames: ['template'] as const,
  registers: [registry],
});

export const poolClaimSeconds = new Histogram({
  name: 'arbiter_pool_claim_seconds',
  help: 'A pooled launch, from the claim (renames) through readiness and injection',
  labelNames: ['template'] as const,
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [registry],
});

export const poolRefills = new Counter({
  name: 'arbiter_pool_refills_total',
  help: 'Warm pool entries created by the pool keeper',
  labelNames: ['template'] as const,
  registers: [registry],
});

export const injections = new Counter({
  name: 'arbiter_injections_total',
  help: 'Containers a scenario\'s files (identity, flag) were written into: by the process a warm pool started ahead of the claim ("primed"), or by an exec of its own ("exec")',
  labelNames: ['template', 'how'] as const,
  registers: [registry],
});

/** The scrape body: this registry plus any per-process extras (for example the API's scenario gauge). */
export async function metricsText(extra: Registry[] = []): Promise<{ contentType: string; body: string }> {
  const merged = extra.length ? Registry.merge([registry, ...extra]) : registry;
  return { contentType: registry.contentType, body: await merged.metrics() };
}
