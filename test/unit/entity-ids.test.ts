// The entity workflow ids built from token names: one id per (tenant, subject), for every name a
// token can carry, readable where Temporal allows it, and the tenant ids of existing grants kept.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Value } from 'typebox/value';
import { idComponent, legacyQuotaWorkflowId, MAX_WORKFLOW_ID_BYTES, quotaWorkflowId, TEMPORAL_DEFAULT_MAX_ID_BYTES, tenantWorkflowId } from '../../lib/entity-ids.ts';
import { SatClaimsSchema } from '../../infra/tokens.ts';

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
/** Exactly what the SAT schema accepts as a tenant or subject (1 to 128 UTF-16 code units). */
const asName = (unit: fc.Arbitrary<string>, maxLength = 128) =>
  fc.string({ unit, minLength: 1, maxLength }).map((s) => s.slice(0, 128))
    .filter((s) => Value.Check(SatClaimsSchema.properties.tenant, s) && Value.Check(SatClaimsSchema.properties.sub, s));
/** A small alphabet of the characters escaping must get right: distinct pairs often look alike. */
const tricky = asName(fc.oneof(fc.constantFrom('a', '-', '%', '2', '5', 'D', 'u', ':', '/', '@', '~', '.', ' ', 'é', '😀'), loneSurrogate), 6);
const anyName = asName(fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), fc.constantFrom('-', '%', ':', '/'), loneSurrogate));

/** String.prototype.isWellFormed, which the ES2023 lib this repo compiles against does not declare. */
const wellFormed = (s: string) => !/\p{Cs}/u.test(s);
const samePair = (a: readonly [string, string], b: readonly [string, string]) => a[0] === b[0] && a[1] === b[1];
type Pair = [string, string];
/**
 * Two pairs, half of the time the second one re-cut from "<tenant>-<subject>" at another '-' (the
 * shape of the reported collision), otherwise independent.
 */
const pairOfPairs = (name: fc.Arbitrary<string>): fc.Arbitrary<[Pair, Pair]> => fc.oneof(
  fc.tuple(fc.tuple(name, name), fc.tuple(name, name)),
  fc.tuple(name, name, fc.nat()).map(([t, s, k]): [Pair, Pair] => {
    const joined = `${t}-${s}`;
    const cuts = [...joined.matchAll(/-/g)].map((m) => m.index);
    const at = cuts[k % cuts.length]!;
    return [[t, s], [joined.slice(0, at), joined.slice(at + 1)]];
  }).filter(([, [t, s]]) => t.length >= 1 && s.length >= 1 && t.length <= 128 && s.length <= 128),
);

describe('entity workflow ids', () => {
  it('tenant qx / subject corp-eve and tenant qx-corp / subject eve get different quota entities (they shared one before)', () => {
    assert.equal(legacyQuotaWorkflowId('qx', 'corp-eve'), legacyQuotaWorkflowId('qx-corp', 'eve'));
    assert.notEqual(quotaWorkflowId('qx', 'corp-eve'), quotaWorkflowId('qx-corp', 'eve'));
    assert.equal(quotaWorkflowId('qx', 'corp-eve'), 'quota:qx:corp-eve');
  });

  it('distinct (tenant, subject) pairs of look-alike names never share a quota id', () => {
    fc.assert(fc.property(pairOfPairs(tricky), ([a, b]) => {
      assert.equal(quotaWorkflowId(...a) === quotaWorkflowId(...b), samePair(a, b));
    }), { numRuns: 20_000 });
  });

  it('distinct (tenant, subject) pairs of any names a token allows never share a quota id', () => {
    fc.assert(fc.property(pairOfPairs(anyName), ([a, b]) => {
      assert.equal(quotaWorkflowId(...a) === quotaWorkflowId(...b), samePair(a, b));
    }), { numRuns: 2_000 });
  });

  it('moving a "-"-joined piece from the tenant to the subject changes the quota id', () => {
    fc.assert(fc.property(anyName, anyName, anyName, (x, y, z) => {
      fc.pre(`${x}-${y}`.length <= 128 && `${y}-${z}`.length <= 128);
      assert.notEqual(quotaWorkflowId(`${x}-${y}`, z), quotaWorkflowId(x, `${y}-${z}`));
    }));
  });

  it('every quota id is ASCII within the deployed Temporal\'s id limit, and a readable one splits back into its names', () => {
    fc.assert(fc.property(anyName, anyName, (tenant, subject) => {
      const id = quotaWorkflowId(tenant, subject);
      assert.match(id, /^[\x21-\x7e]+$/);
      assert.ok(id.length <= MAX_WORKFLOW_ID_BYTES, `${id.length} bytes`);
      if (id.startsWith('quota@sha256:')) return;
      const [kind, t, s, ...rest] = id.split(':');
      assert.deepEqual([kind, rest], ['quota', []]);
      // For well-formed names the escape is encodeURIComponent's, which decodeURIComponent undoes.
      if (wellFormed(tenant)) assert.equal(decodeURIComponent(t!), tenant);
      if (wellFormed(subject)) assert.equal(decodeURIComponent(s!), subject);
    }));
  });

  it('names too long to escape within the id limit get distinct digest ids', () => {
    const cjk = (c: string) => c.repeat(128);
    // 28 CJK characters escape to 252 bytes: a tenant and a subject of them no longer fit.
    assert.match(quotaWorkflowId('界'.repeat(28), '世'), /^quota@sha256:/);
    const a = quotaWorkflowId(cjk('界'), cjk('世'));
    const b = quotaWorkflowId(cjk('世'), cjk('界'));
    assert.match(a, /^quota@sha256:[0-9a-f]{64}$/);
    assert.notEqual(a, b);
    assert.match(tenantWorkflowId(cjk('界')), /^tenant@sha256:[0-9a-f]{64}$/);
    assert.equal(legacyQuotaWorkflowId(cjk('界'), cjk('世')), undefined, 'no such entity could have been started');
  });

  it('a lone surrogate, which encodeURIComponent refuses, is escaped and kept apart from the replacement character', () => {
    assert.throws(() => encodeURIComponent('\uD800'));
    assert.equal(idComponent('a\uD800'), 'a%uD800');
    assert.notEqual(quotaWorkflowId('t', '\uD800'), quotaWorkflowId('t', '\uFFFD'));
    assert.equal(legacyQuotaWorkflowId('t', '\uD800'), undefined, 'the old id threw for it: no entity exists there');
  });

  it('tenant ids stay what they were, so grants recorded before are found', () => {
    fc.assert(fc.property(anyName, (tenant) => {
      fc.pre(wellFormed(tenant));
      const before = `tenant-${encodeURIComponent(tenant)}`;
      fc.pre(before.length <= TEMPORAL_DEFAULT_MAX_ID_BYTES);
      assert.equal(tenantWorkflowId(tenant), before);
    }));
  });

  it('distinct tenants never share a tenant id', () => {
    fc.assert(fc.property(tricky, tricky, (a, b) => {
      assert.equal(tenantWorkflowId(a) === tenantWorkflowId(b), a === b);
    }), { numRuns: 20_000 });
  });

  it('the legacy quota id is the old formula, so leases held under it are still found', () => {
    fc.assert(fc.property(anyName, anyName, (tenant, subject) => {
      fc.pre(wellFormed(tenant) && wellFormed(subject));
      const old = `quota-${encodeURIComponent(tenant)}-${encodeURIComponent(subject)}`;
      assert.equal(legacyQuotaWorkflowId(tenant, subject), old.length <= TEMPORAL_DEFAULT_MAX_ID_BYTES ? old : undefined);
    }));
  });
});
