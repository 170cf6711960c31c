// How long a completion token issued by POST /api/scenarios/:id/completion-token may live: never
// past the scenario's TTL, and none at all for a scenario that is not running.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { completionTokenLifetime } from '../../api/routes/completion-token.ts';
import { ArbiterError } from '../../lib/errors.ts';
import type { ScenarioState } from '../../contract/scenario.ts';

const runningSince = '2026-01-01T10:00:00.000Z';
const state = (over: Partial<ScenarioState> = {}): ScenarioState => ({
  scenarioId: 'scn-lifetime-1', status: 'running', tenant: 't', subject: 's', template: 'hello', templateVersion: '1', track: 'intro', plan: 'free',
  createdAt: '2026-01-01T09:59:50.000Z', updatedAt: runningSince, ttlSeconds: 1800, ...over,
});
const at = (seconds: number) => new Date(Date.parse(runningSince) + seconds * 1000);
const errorOf = (fn: () => unknown): { status: number; code: string } => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ArbiterError, String(err));
    return { status: err.statusCode, code: err.code };
  }
  throw new Error('no error');
};

void describe('completion token lifetime', () => {
  void it('issued right after the scenario started running, it lives the whole TTL', () => {
    assert.equal(completionTokenLifetime(state(), at(0)), 1800);
  });

  void it('issued later, it lives only what is left of the TTL', () => {
    assert.equal(completionTokenLifetime(state(), at(1500)), 300);
  });

  void it('once the TTL is over, none is issued: 409 not_running', () => {
    assert.deepEqual(errorOf(() => completionTokenLifetime(state(), at(1800))), { status: 409, code: 'not_running' });
  });

  for (const status of ['pending', 'launching', 'scoring', 'scored', 'cancelled'] as const) {
    void it(`a ${status} scenario gets none: 409 not_running`, () => {
      assert.deepEqual(errorOf(() => completionTokenLifetime(state({ status }), at(1))), { status: 409, code: 'not_running' });
    });
  }

  void it('a running scenario whose TTL is unknown (no worker answered) gets 503, not a token of a guessed lifetime', () => {
    assert.deepEqual(errorOf(() => completionTokenLifetime(state({ ttlSeconds: undefined }), at(1))).status, 503);
  });
});
