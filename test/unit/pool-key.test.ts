// What makes a pooled entry fit a scenario (activities/pool/pool-key.ts), how a container's pooled
// state is read off its name and labels (pool-logic poolStateOf), and ARBITER_POOLS.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LABELS, podMembers, type EffectiveLimits } from '../../activities/container-spec.ts';
import { memberSuffixes, poolKey, poolScenarioId } from '../../activities/pool/pool-key.ts';
import { entryPrefix, poolStateOf } from '../../activities/pool/pool-logic.ts';
import { loadConfig, poolOverrides } from '../../infra/config.ts';
import { loadTemplate, type Template } from '../../infra/template.ts';
import { ConfigError } from '../../lib/errors.ts';

const pod = loadTemplate({ id: 'web-recon', version: '1' });
const single = loadTemplate({ id: 'pooled-flag', version: '1' });
const limitsOf = (t: Template): EffectiveLimits => ({ ...t.limits });
const key = (t: Template, over: { scenarioId?: string; tenant?: string; env?: string[]; digest?: string; policy?: string; limits?: EffectiveLimits; pool?: { key: string; entry: string } } = {}) => poolKey({
  templateDigest: over.digest ?? 'd'.repeat(64),
  policySha256: over.policy ?? 'p'.repeat(64),
  runtime: t.runtime ?? 'runc',
  members: podMembers({ scenarioId: over.scenarioId ?? 'scn-aaaaaaaa', tenant: over.tenant ?? 'acme', template: t, limits: over.limits ?? limitsOf(t), env: over.env ?? [], hostId: 'h1', ...(over.pool ? { pool: over.pool } : {}) }),
});

describe('pool key', () => {
  it('is the same for a pooled entry and any scenario of the same template, digest, policy and limits (names, labels and tenant left out)', () => {
    for (const t of [single, pod]) {
      const k = key(t);
      assert.match(k, /^[0-9a-f]{16}$/);
      assert.equal(key(t, { scenarioId: 'scn-bbbbbbbb', tenant: 'other' }), k);
      // Made for the pool: named pool-<key>-<entry>, labelled with the pool instead of a scenario.
      assert.equal(key(t, { scenarioId: poolScenarioId(k, 'e1'), tenant: '', pool: { key: k, entry: 'e1' } }), k);
    }
  });

  it('changes with the template digest, the policy bundle, the runtime or any hardening (limits a plan capped)', () => {
    const k = key(single);
    assert.notEqual(key(single, { digest: 'e'.repeat(64) }), k);
    assert.notEqual(key(single, { policy: 'q'.repeat(64) }), k);
    assert.notEqual(key({ ...single, runtime: 'runsc' }), k);
    assert.notEqual(key(single, { limits: { ...limitsOf(single), memoryMb: 32 } }), k);
    assert.notEqual(key(single, { limits: { ...limitsOf(single), tmpfsMb: 8 } }), k);
    // The tag rebuilt into another image (same template version, another busybox in its context).
    const members = podMembers({ scenarioId: 'scn-aaaaaaaa', tenant: 'acme', template: single, limits: limitsOf(single), env: [], hostId: 'h1' });
    const withImage = (id: string) => poolKey({ templateDigest: 'd'.repeat(64), policySha256: 'p'.repeat(64), runtime: 'runc', members, images: { [single.image.tag]: id } });
    assert.notEqual(withImage('sha256:1'), withImage('sha256:2'));
  });

  it('a pooled member carries the pool and entry labels and no scenario or tenant; names follow the entry', () => {
    const members = podMembers({ scenarioId: poolScenarioId('k0', 'e1'), tenant: '', template: pod, limits: limitsOf(pod), env: [], hostId: 'h1', pool: { key: 'k0', entry: 'e1' } });
    for (const m of members) {
      assert.equal(m.spec.Labels![LABELS.pool], 'k0');
      assert.equal(m.spec.Labels![LABELS.poolEntry], 'e1');
      assert.equal(m.spec.Labels![LABELS.scenario], undefined);
      assert.equal(m.spec.Labels![LABELS.tenant], undefined);
      assert.ok(m.containerName.startsWith(entryPrefix('k0', 'e1')));
    }
    assert.deepEqual(memberSuffixes(members, poolScenarioId('k0', 'e1')), ['-pod', '', '-svc-target']);
  });
});

describe('pooled state of a container', () => {
  const labels = (role: string, service?: string) => ({ [LABELS.pool]: 'k0', [LABELS.poolEntry]: 'e1', [LABELS.role]: role, ...(service ? { [LABELS.service]: service } : {}) });
  it('pooled by its entry name; claimed, with the scenario its name says; or not from a pool', () => {
    assert.deepEqual(poolStateOf('arbiter-pool-k0-e1', labels('scenario', 'main')), { kind: 'pooled', key: 'k0', entry: 'e1' });
    assert.deepEqual(poolStateOf('arbiter-pool-k0-e1-pod', labels('holder')), { kind: 'pooled', key: 'k0', entry: 'e1' });
    assert.deepEqual(poolStateOf('arbiter-scn-x-1', labels('scenario', 'workstation')), { kind: 'claimed', scenarioId: 'scn-x-1' });
    assert.deepEqual(poolStateOf('arbiter-scn-x-1-pod', labels('holder')), { kind: 'claimed', scenarioId: 'scn-x-1' });
    assert.deepEqual(poolStateOf('arbiter-scn-x-1-svc-target', labels('scenario', 'target')), { kind: 'claimed', scenarioId: 'scn-x-1' });
    assert.deepEqual(poolStateOf('arbiter-scn-x-1', { [LABELS.scenario]: 'scn-x-1' }), { kind: 'none' });
  });
});

describe('ARBITER_POOLS', () => {
  it('reads templateId@version=min:max entries, and "none"', () => {
    assert.deepEqual(poolOverrides('pooled-flag@1=2:4, hello@1=0:1'), [{ template: 'pooled-flag', version: '1', min: 2, max: 4 }, { template: 'hello', version: '1', min: 0, max: 1 }]);
    assert.deepEqual(poolOverrides(undefined), []);
    const config = loadConfig({ ARBITER_MODE: 'dev', ARBITER_POOLS: 'none' }, []);
    assert.equal(config.poolsOff, true);
    assert.equal(config.hostCapacity, 32);
  });
  it('refuses min above max, above 32, a bad entry or a template named twice', () => {
    for (const bad of ['x@1=3:2', 'x@1=0:33', 'x=1:2', 'x@1=1', 'x@1=1:2,x@1=0:1']) assert.throws(() => poolOverrides(bad), ConfigError, bad);
  });
});
