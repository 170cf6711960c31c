// Exercises the real compiled bundle in .data/policy (scripts/build-policy.sh runs before
// the tests), so these check the Rego rules, the Wasm build and the TS wrapper together.
// Inputs are built the way the activity builds them: from the real hello template and the
// real container spec.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_POLICY_DIR, loadPolicy, openPolicy, type PolicyEngine } from '../../infra/policy/wasm-engine.ts';
import { createPolicyActivities, policyInputFor, type PolicyRequest } from '../../activities/evaluate-policy.ts';
import { templateDigest } from '../../activities/check-entitlements.ts';
import { loadTemplate, templateDir } from '../../infra/template.ts';
import type { PolicyInput } from '../../lib/policy-types.ts';

const helloRef = { id: 'hello', version: '1' };
const hello = loadTemplate(helloRef);

/** What checkEntitlements grants hello on the free plan. */
function request(over: Partial<PolicyRequest> = {}): PolicyRequest {
  return {
    scenarioId: 'scn-policy-unit',
    subject: 'user-1',
    tenant: 'acme',
    track: 'intro',
    entitlement: {
      plan: 'free',
      template: hello,
      templateDigest: templateDigest(templateDir(helloRef)),
      limits: { memoryMb: 64, cpus: 0.5, pids: 32, ttlSeconds: 1800, tmpfsMb: 16 },
    },
    ...over,
  };
}

function input(over: Partial<PolicyInput> = {}): PolicyInput {
  const base = { ...policyInputFor(request()), ...over };
  // The launch keeps the main container's entry in services equal to isolation.
  return over.isolation && !over.services ? { ...base, services: base.services.map((s) => (s.main ? { ...s, isolation: over.isolation! } : s)) } : base;
}

// node:test's describe/it return promises the runner tracks itself; `void` marks them
// as deliberately not awaited for the no-floating-promises rule.
void describe('spawn policy (wasm)', () => {
  let engine: PolicyEngine;

  before(async () => {
    engine = await loadPolicy(DEFAULT_POLICY_DIR);
  });

  void it('reports a 64-hex-char sha256 and stamps it on decisions', async () => {
    assert.match(engine.sha256, /^[0-9a-f]{64}$/);
    assert.equal((await engine.evaluate(input())).policySha256, engine.sha256);
    assert.equal(engine.source, `wasm ${DEFAULT_POLICY_DIR}`);
  });

  void it('allows hello on the intro track of the free plan, in the container the launch would create', async () => {
    assert.deepEqual(await engine.evaluate(input()), { allow: true, reasons: [], policySha256: engine.sha256, access: { exec: true, files: true, terminal: true, terminalSessions: 1 } });
  });

  void it('denies a track outside the plan, naming track and plan', async () => {
    const d = await engine.evaluate(input({ track: 'web', template: { ...input().template, tracks: ['intro', 'web'] } }));
    assert.equal(d.allow, false);
    assert.deepEqual(d.reasons, ['track "web" is not in plan "free"']);
  });

  void it('denies an unknown plan', async () => {
    const d = await engine.evaluate(input({ plan: 'gold' }));
    assert.equal(d.allow, false);
    assert.deepEqual(d.reasons, ['unknown plan "gold"']);
  });

  void it('denies a template that is not published for the track', async () => {
    const d = await engine.evaluate(input({ plan: 'pro', track: 'web' }));
    assert.equal(d.allow, false);
    assert.deepEqual(d.reasons, ['template "hello@1" is not published for track "web"']);
  });

  void it('denies a template asking for more than the plan grants, naming the limit', async () => {
    const d = await engine.evaluate(input({ template: { ...input().template, limits: { ...input().template.limits, memoryMb: 4096 } } }));
    assert.deepEqual(d.reasons, ['template "hello@1" requests memoryMb 4096, above the 128 plan "free" allows']);
  });

  void it('denies a container that would not be isolated, with every reason', async () => {
    const isolation = { ...input().isolation, networkMode: 'bridge', networkDisabled: false, privileged: true, capAdd: ['SYS_ADMIN'] };
    const d = await engine.evaluate(input({ isolation }));
    assert.equal(d.allow, false);
    assert.deepEqual(d.reasons, [
      'capabilities are added: "SYS_ADMIN"',
      'networking is enabled (network mode "bridge"); it must be "none" with networking disabled',
      'the container is privileged',
    ]);
  });

  void it('reports every reason, sorted', async () => {
    const d = await engine.evaluate(input({ track: 'web' }));
    assert.equal(d.allow, false);
    assert.deepEqual(d.reasons, [
      'template "hello@1" is not published for track "web"',
      'track "web" is not in plan "free"',
    ]);
  });

  void it('does not echo caller-supplied names with quotes, newlines or markup into reasons', async () => {
    const d = await engine.evaluate(input({ track: 'we"b\n<x>' }));
    assert.equal(d.allow, false);
    assert.ok(d.reasons.includes('track (a value that cannot be shown) is not in plan "free"'), JSON.stringify(d.reasons));
    assert.ok(d.reasons.every((r) => !r.includes('\n') && !r.includes('<x>')));
  });

  void it('denies, with reasons, an input it cannot decide instead of throwing', async () => {
    for (const bad of [{}, null, [], 'free', 0, { plan: 'free' }, { ...input(), isolation: 'hardened' }]) {
      const d = await engine.evaluate(bad as unknown as PolicyInput);
      assert.equal(d.allow, false, `allowed ${JSON.stringify(bad)}`);
      assert.ok(d.reasons.length > 0, `no reason for ${JSON.stringify(bad)}`);
      assert.equal(d.policySha256, engine.sha256);
    }
  });

  void it('turns an evaluation failure into a deny', async () => {
    const cyclic: Record<string, unknown> = { ...input() };
    cyclic['self'] = cyclic;
    const d = await engine.evaluate(cyclic as unknown as PolicyInput);
    assert.equal(d.allow, false);
    assert.equal(d.reasons.length, 1);
    assert.match(d.reasons[0] ?? '', /^policy evaluation failed: /);
  });

  void it('turns an input too large for the memory ceiling into a deny', async () => {
    const d = await engine.evaluate(input({ subject: 'x'.repeat(80 * 1024 * 1024) }));
    assert.equal(d.allow, false);
    assert.match(d.reasons[0] ?? '', /^policy evaluation failed: /);
    // and the engine still works afterwards
    assert.equal((await engine.evaluate(input())).allow, true);
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

  void it('opens the Wasm bundle when no OPA_URL is configured, pinned the same way', async () => {
    const opened = await openPolicy({ dir: DEFAULT_POLICY_DIR, expectedSha256: engine.sha256 });
    assert.equal(opened.sha256, engine.sha256);
    await assert.rejects(openPolicy({ dir: DEFAULT_POLICY_DIR, expectedSha256: 'f'.repeat(64) }), /sha256 mismatch/);
  });

  void it('covers data.json in the sha256, so changed plans change the hash', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arbiter-policy-'));
    try {
      await copyFile(join(DEFAULT_POLICY_DIR, 'policy.wasm'), join(dir, 'policy.wasm'));
      const limits = { memoryMb: 128, cpus: 0.5, pids: 64, ttlSeconds: 1800 };
      await writeFile(join(dir, 'data.json'), JSON.stringify({ plans: { free: { tracks: ['intro', 'web'], limits } } }));
      const other = await loadPolicy(dir);
      assert.notEqual(other.sha256, engine.sha256);
      // the data really is what decides: web is now in the free plan
      assert.equal((await other.evaluate(input({ track: 'web', template: { ...input().template, tracks: ['web'] } }))).allow, true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

void describe('evaluatePolicy activity', () => {
  void it('judges the hardened spec of the scenario and returns the decision with the input it answered', async () => {
    const gate = createPolicyActivities({ policy: await loadPolicy(DEFAULT_POLICY_DIR) });
    const decision = await gate.evaluatePolicy(request());
    assert.equal(decision.allow, true, JSON.stringify(decision.reasons));
    const judged = decision.input;
    assert.ok(judged);
    assert.deepEqual(judged.template, {
      id: 'hello',
      version: '1',
      digest: request().entitlement.templateDigest,
      tracks: ['intro'],
      limits: { memoryMb: 64, cpus: 0.5, pids: 32, ttlSeconds: 1800 },
      network: 'none',
      runtime: 'runc',
    });
    assert.equal(judged.isolation.networkMode, 'none');
    assert.equal(judged.isolation.user, hello.user);
    assert.deepEqual(judged.isolation.resources, { memoryMb: 64, memorySwapMb: 64, cpus: 0.5, pids: 32, nproc: 0 });
    assert.deepEqual(judged.services.map((s) => [s.name, s.role, s.main, s.containerName]), [['main', 'service', true, 'arbiter-scn-policy-unit']]);
    assert.deepEqual(judged.services[0]!.isolation, judged.isolation);
  });

  void it('refuses a template that declares a network, instead of running it without one', async () => {
    const gate = createPolicyActivities({ policy: await loadPolicy(DEFAULT_POLICY_DIR) });
    const withNetwork = { ...hello, network: 'bridge' };
    const decision = await gate.evaluatePolicy(request({ entitlement: { ...request().entitlement, template: withNetwork } }));
    assert.deepEqual(decision.reasons, ['template "hello@1" asks for network "bridge", but scenarios run without one']);
  });

  void it('refuses a spawn granted more than its plan allows, in what it asks and in what the container would get', async () => {
    const gate = createPolicyActivities({ policy: await loadPolicy(DEFAULT_POLICY_DIR) });
    const decision = await gate.evaluatePolicy(request({ entitlement: { ...request().entitlement, limits: { memoryMb: 512, cpus: 0.5, pids: 32, ttlSeconds: 7200, tmpfsMb: 16 } } }));
    assert.deepEqual(decision.reasons, [
      'template "hello@1" requests memoryMb 512, above the 128 plan "free" allows',
      'template "hello@1" requests ttlSeconds 7200, above the 1800 plan "free" allows',
      'the container\'s memoryMb limit is 512, outside 1..128 for plan "free"',
    ]);
  });
});
