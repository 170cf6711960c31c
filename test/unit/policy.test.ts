// Exercises the real compiled bundle in .data/policy (scripts/build-policy.sh runs before
// the tests), so these check the Rego rules, the Wasm build and the TS wrapper together.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_POLICY_DIR, loadPolicy, type PolicyEngine } from '../../activities/policy.ts';
import type { PolicyInput } from '../../lib/policy-types.ts';

const hello = { id: 'hello', version: '1', tracks: ['intro'] };

function input(over: Partial<PolicyInput> = {}): PolicyInput {
  return { subject: 'user-1', tenant: 'acme', plan: 'free', track: 'intro', template: hello, ...over };
}

// node:test's describe/it return promises the runner tracks itself; `void` marks them
// as deliberately not awaited for the no-floating-promises rule.
void describe('spawn policy (wasm)', () => {
  let engine: PolicyEngine;

  before(async () => {
    engine = await loadPolicy(DEFAULT_POLICY_DIR);
  });

  void it('reports a 64-hex-char sha256 and stamps it on decisions', () => {
    assert.match(engine.sha256, /^[0-9a-f]{64}$/);
    assert.equal(engine.evaluate(input()).policySha256, engine.sha256);
  });

  void it('allows the intro track on the free plan with a template published for it', () => {
    assert.deepEqual(engine.evaluate(input()), {
      allow: true,
      reasons: [],
      policySha256: engine.sha256,
    });
  });

  void it('denies a track outside the plan, naming track and plan', () => {
    const d = engine.evaluate(input({ track: 'web', template: { ...hello, tracks: ['intro', 'web'] } }));
    assert.equal(d.allow, false);
    assert.deepEqual(d.reasons, ['track "web" is not in plan "free"']);
  });

  void it('denies an unknown plan', () => {
    const d = engine.evaluate(input({ plan: 'gold' }));
    assert.equal(d.allow, false);
    assert.deepEqual(d.reasons, ['unknown plan "gold"']);
  });

  void it('denies a template that is not published for the track', () => {
    const d = engine.evaluate(input({ plan: 'pro', track: 'web' }));
    assert.equal(d.allow, false);
    assert.deepEqual(d.reasons, ['template "hello@1" is not published for track "web"']);
  });

  void it('reports every reason, sorted', () => {
    const d = engine.evaluate(input({ track: 'web' }));
    assert.equal(d.allow, false);
    assert.deepEqual(d.reasons, [
      'template "hello@1" is not published for track "web"',
      'track "web" is not in plan "free"',
    ]);
  });

  void it('quotes and escapes caller-supplied names in reasons', () => {
    const d = engine.evaluate(input({ track: 'we"b\nx' }));
    assert.equal(d.allow, false);
    assert.ok(d.reasons.includes('track "we\\"b\\nx" is not in plan "free"'), JSON.stringify(d.reasons));
    assert.ok(d.reasons.every((r) => !r.includes('\n')));
  });

  void it('denies, with reasons, an input it cannot decide instead of throwing', () => {
    for (const bad of [{}, null, [], 'free', { plan: 'free' }]) {
      const d = engine.evaluate(bad as unknown as PolicyInput);
      assert.equal(d.allow, false, `allowed ${JSON.stringify(bad)}`);
      assert.ok(d.reasons.length > 0, `no reason for ${JSON.stringify(bad)}`);
      assert.equal(d.policySha256, engine.sha256);
    }
  });

  void it('turns an evaluation failure into a deny', () => {
    const cyclic: Record<string, unknown> = { ...input() };
    cyclic['self'] = cyclic;
    const d = engine.evaluate(cyclic as unknown as PolicyInput);
    assert.equal(d.allow, false);
    assert.equal(d.reasons.length, 1);
    assert.match(d.reasons[0] ?? '', /^policy evaluation failed: /);
  });

  void it('turns an input too large for the memory ceiling into a deny', () => {
    const d = engine.evaluate(input({ subject: 'x'.repeat(80 * 1024 * 1024) }));
    assert.equal(d.allow, false);
    assert.match(d.reasons[0] ?? '', /^policy evaluation failed: /);
    // and the engine still works afterwards
    assert.equal(engine.evaluate(input()).allow, true);
  });

  void it('accepts the matching pinned sha256, in either case', async () => {
    const again = await loadPolicy(DEFAULT_POLICY_DIR, { expectedSha256: engine.sha256.toUpperCase() });
    assert.equal(again.sha256, engine.sha256);
  });

  void it('rejects a pinned sha256 that does not match', async () => {
    await assert.rejects(loadPolicy(DEFAULT_POLICY_DIR, { expectedSha256: '0'.repeat(64) }), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.match(err.message, /sha256/);
      assert.ok(err.message.includes(engine.sha256), 'names the actual hash');
      assert.ok(err.message.includes('0'.repeat(64)), 'names the expected hash');
      return true;
    });
  });

  void it('covers data.json in the sha256, so changed plans change the hash', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arbiter-policy-'));
    try {
      await copyFile(join(DEFAULT_POLICY_DIR, 'policy.wasm'), join(dir, 'policy.wasm'));
      await writeFile(join(dir, 'data.json'), JSON.stringify({ plans: { free: { tracks: ['intro', 'web'] } } }));
      const other = await loadPolicy(dir);
      assert.notEqual(other.sha256, engine.sha256);
      // the data really is what decides: web is now in the free plan
      assert.equal(other.evaluate(input({ track: 'web', template: { ...hello, tracks: ['web'] } })).allow, true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
