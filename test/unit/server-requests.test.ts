// The throughput bench's count of what the Temporal service was asked per scenario: read from the
// dev server's Prometheus text, the frontend's requests only, summed over namespaces and statuses.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { frontendRequests, requestsPerScenario } from '../../bench/server-requests.ts';

const page = (signals: number, completions: number) => `# HELP service_requests service_requests counter
# TYPE service_requests counter
service_requests{namespace="default",operation="SignalWorkflowExecution",service_name="frontend"} ${signals}
service_requests{namespace="_unknown_",operation="SignalWorkflowExecution",service_name="frontend"} 1
service_requests{namespace="default",operation="SignalWorkflowExecution",service_name="history"} ${signals * 7}
service_requests{namespace="default",operation="RespondWorkflowTaskCompleted",service_name="frontend"} ${completions}
# HELP service_latency service_latency histogram
# TYPE service_latency histogram
service_latency_bucket{operation="SignalWorkflowExecution",service_name="frontend",le="0.001"} 999
service_latency_sum{operation="SignalWorkflowExecution",service_name="frontend"} 2
service_latency_count{operation="SignalWorkflowExecution",service_name="frontend"} 999
`;

describe('Temporal frontend requests per scenario (bench)', () => {
  it('sums the frontend\'s counters of one operation over namespaces, and ignores other services and metrics', () => {
    assert.deepEqual([...frontendRequests(page(10, 40))], [['SignalWorkflowExecution', 11], ['RespondWorkflowTaskCompleted', 40]]);
  });

  it('divides what each operation added between two readings by the scenarios, largest first, leaving out what did not move', () => {
    const before = frontendRequests(page(10, 40));
    const after = frontendRequests(page(58, 40 + 48 * 7.5));
    assert.deepEqual(requestsPerScenario(before, after, 48), { RespondWorkflowTaskCompleted: 7.5, SignalWorkflowExecution: 1 });
  });
});
