// The input of a scenario workflow started directly (no API): what the spawn would build from a
// SAT, with a fresh id and correlation id, and whatever a test changes.
import { randomUUID } from 'node:crypto';
import { scenarioIdFromJti, type ScenarioInput } from '../../contract/scenario.ts';

export function scenarioInput(over: Partial<ScenarioInput> = {}): ScenarioInput {
  return {
    scenarioId: scenarioIdFromJti(randomUUID()),
    correlationId: randomUUID(),
    subject: 'alice',
    tenant: 'acme',
    plan: 'free',
    template: { id: 'hello', version: '1' },
    track: 'intro',
    retentionDays: 30,
    createdAt: new Date().toISOString(),
    ...over,
  };
}
