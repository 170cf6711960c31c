// What an operator sees of a scenario in the Temporal UI: the search attributes to filter by, the
// static summary and details fixed at start, and the current details that follow each step.
// Pure functions of the scenario's input and state, so the API (at start) and the workflow (on
// every change) render the same text.
import type { SearchAttributePair, SearchAttributeUpdatePair } from '@temporalio/common';
import { SearchAttributeKeys } from '../contract/queues.ts';
import type { ScenarioInput, ScenarioState } from '../contract/scenario.ts';

/** Every attribute, as the API sets them at start (status "pending"). */
export function initialSearchAttributes(input: ScenarioInput): SearchAttributePair[] {
  const k = SearchAttributeKeys;
  return [
    { key: k.tenant, value: input.tenant },
    { key: k.subject, value: input.subject },
    { key: k.template, value: `${input.template.id}@${input.template.version}` },
    { key: k.track, value: input.track },
    { key: k.plan, value: input.plan },
    { key: k.status, value: 'pending' },
  ];
}

/** The attributes that can change while the scenario runs: its status and its resolved plan. */
export function currentSearchAttributes(state: ScenarioState): SearchAttributeUpdatePair[] {
  return [
    { key: SearchAttributeKeys.status, value: state.status },
    { key: SearchAttributeKeys.plan, value: state.plan },
  ];
}

/** One line: who, which template, which plan. */
export function staticSummary(input: ScenarioInput): string {
  return `${input.subject}@${input.tenant} · ${input.template.id}@${input.template.version} · track ${input.track} · plan ${input.plan}`;
}

export function staticDetails(input: ScenarioInput): string {
  return [
    `**Subject** ${input.subject} (tenant ${input.tenant})`,
    `**Template** ${input.template.id}@${input.template.version}, track ${input.track}`,
    `**Plan** ${input.plan} (as claimed by the SAT; the workflow re-resolves it), retention ${input.retentionDays} days`,
    `**Correlation id** ${input.correlationId}`,
    `**Requested** ${input.createdAt}`,
  ].join('\n');
}

/** The scenario's current situation in one line, e.g. "running: waiting for completion, TTL 30 min, …". */
export function currentDetails(state: ScenarioState): string {
  const where = state.containerName ? `container ${state.containerName}${state.hostId ? ` on host ${state.hostId}` : ''}` : undefined;
  const parts: string[] = [];
  switch (state.status) {
    case 'pending':
      parts.push('pending: checking entitlements and policy');
      break;
    case 'launching':
      parts.push(`launching: starting the container${state.hostId ? ` on host ${state.hostId}` : ''}`);
      break;
    case 'running':
      parts.push('running: waiting for completion');
      if (state.ttlSeconds !== undefined) parts.push(`TTL ${duration(state.ttlSeconds)}`);
      if (where) parts.push(where);
      break;
    case 'scoring':
      parts.push('scoring: the scorer runs over the collected evidence');
      break;
    case 'scored':
      parts.push(state.score ? `scored ${state.score.score}/${state.score.maxScore} (${state.score.passed ? 'passed' : 'not passed'})` : 'scored');
      if (state.verdictKeyId) parts.push(`verdict signed by ${state.verdictKeyId}`);
      break;
    default:
      parts.push(state.reason ? `${state.status}: ${state.reason}` : state.status);
  }
  return parts.join(', ');
}

function duration(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}
