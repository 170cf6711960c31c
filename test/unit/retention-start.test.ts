// Where a scenario's retention starts and which plan's days apply: from the retention input (old
// inputs carry only scoredAt) or, for a sweep restarting one, from the scenario's audit log.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildChain, type AuditEvent } from '../../lib/audit-chain.ts';
import { auditedEnd } from '../../lib/audited-end.ts';
import { retentionDeadline, retentionStart } from '../../lib/retention-deadline.ts';

const DAY_MS = 24 * 3600 * 1000;
const at = (minute: number) => new Date(Date.UTC(2026, 10, 30, 12, minute)).toISOString();
const requested: AuditEvent = { time: at(0), actor: 'alice', event: 'scenario.requested', data: { template: 'hello@1', track: 'intro', plan: 'free' } };
const resolved: AuditEvent = { time: at(0), actor: 'arbiter', event: 'entitlements.resolved', data: { plan: 'pro', source: 'grant' } };

describe('retention start', () => {
  it('counts from endedAt; an input from before every end was retained counts from scoredAt', () => {
    assert.equal(retentionStart({ endedAt: at(5) }), at(5));
    assert.equal(retentionStart({ scoredAt: at(3) }), at(3));
    assert.equal(retentionStart({ endedAt: at(5), scoredAt: at(5) }), at(5));
    assert.equal(retentionDeadline(retentionStart({ endedAt: at(5) }), 7) - Date.parse(at(5)), 7 * DAY_MS);
  });

  it('refuses an input with neither, rather than time a deletion from NaN', () => {
    assert.throws(() => retentionStart({}), /endedAt/);
  });
});

describe('the end an audit log records', () => {
  it('is its last status, at its time, under the plan entitlements resolved (not the one the SAT claimed)', () => {
    const chain = buildChain([
      requested, resolved,
      { time: at(1), actor: 'arbiter', event: 'status.running' },
      { time: at(31), actor: 'arbiter', event: 'status.timed_out', data: { reason: 'no completion within 1800s' } },
      // Retention's own entries come after and change nothing.
      { time: at(40), actor: 'operator:olga', event: 'retention.hold' },
    ]);
    assert.deepEqual(auditedEnd(chain), { status: 'timed_out', at: at(31), plan: 'pro', subject: 'alice' });
  });

  it('falls back to the SAT\'s plan when the scenario was denied before entitlements resolved', () => {
    const chain = buildChain([requested, { time: at(0), actor: 'arbiter', event: 'status.denied', data: { reason: 'unknown plan' } }]);
    assert.deepEqual(auditedEnd(chain), { status: 'denied', at: at(0), plan: 'free', subject: 'alice' });
  });

  it('is none while the log records no end (a scenario still running), nor for "expired", which is retention\'s', () => {
    assert.equal(auditedEnd(buildChain([requested, resolved, { time: at(1), actor: 'arbiter', event: 'status.running' }])), undefined);
    assert.equal(auditedEnd(buildChain([requested, { time: at(1), actor: 'arbiter', event: 'status.expired' }])), undefined);
    assert.equal(auditedEnd([]), undefined);
  });

  it('names no plan when the log names none', () => {
    const chain = buildChain([{ time: at(0), actor: 'alice', event: 'scenario.requested' }, { time: at(2), actor: 'arbiter', event: 'status.cancelled' }]);
    assert.deepEqual(auditedEnd(chain), { status: 'cancelled', at: at(2), subject: 'alice' });
  });
});
