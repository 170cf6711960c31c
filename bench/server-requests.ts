// What the Temporal service was asked per completed scenario: the dev server's own request
// counters (its --metrics-port), read before and after a measurement. It shows work nobody meant
// to ask for: the raw baseline's containers were once signalled as if they were scenarios.
import parsePrometheusTextFormat from 'parse-prometheus-text-format';

/** Requests the frontend service answered, by operation (every namespace and status together). */
export function frontendRequests(metricsText: string): Map<string, number> {
  const counts = new Map<string, number>();
  const family = parsePrometheusTextFormat(metricsText).find((f) => f.name === 'service_requests');
  for (const sample of family?.metrics ?? []) {
    const operation = sample.labels?.operation;
    if (sample.labels?.service_name !== 'frontend' || !operation) continue;
    counts.set(operation, (counts.get(operation) ?? 0) + Number(sample.value ?? 0));
  }
  return counts;
}

/** Each operation's requests between two readings, per scenario, largest first (two decimals). */
export function requestsPerScenario(before: Map<string, number>, after: Map<string, number>, scenarios: number): Record<string, number> {
  const per: Array<[string, number]> = [];
  for (const [operation, total] of after) {
    const n = total - (before.get(operation) ?? 0);
    if (n > 0) per.push([operation, Math.round((n / scenarios) * 100) / 100]);
  }
  return Object.fromEntries(per.sort((a, b) => b[1] - a[1]));
}
