// Properties of the plan resolver (lib/resolve-entitlement.ts) over every shape of a
// tenant's recorded grants: a billing receipt beats an entitlement token, which beats the free
// default, whatever the plans, references and issue times say.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_PLAN, type TenantEntitlementState, type TenantGrant } from '../../contract/tenant.ts';
import { resolveEntitlement } from '../../lib/resolve-entitlement.ts';

const RUNS = 2_000;

const plan = fc.oneof(fc.constantFrom('free', 'pro', 'enterprise', '', '__proto__', 'constructor'), fc.string());
const grant = (source: TenantGrant['source']): fc.Arbitrary<TenantGrant> => fc.record({
  plan,
  source: fc.constant(source),
  reference: fc.string(),
  issuedAt: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
});
const state: fc.Arbitrary<TenantEntitlementState> = fc.record({
  receipt: fc.option(grant('receipt'), { nil: undefined }),
  et: fc.option(grant('et'), { nil: undefined }),
}, { requiredKeys: [] });

void describe('resolveEntitlement, for any recorded state', () => {
  void it('a receipt decides the plan, whatever the ET says and whichever was issued later', () => {
    fc.assert(fc.property(grant('receipt'), fc.option(grant('et'), { nil: undefined }), (receipt, et) => {
      assert.deepEqual(resolveEntitlement({ receipt, ...(et ? { et } : {}) }), { plan: receipt.plan, source: 'receipt', reference: receipt.reference });
    }), { numRuns: RUNS });
  });

  void it('without a receipt, the ET decides the plan', () => {
    fc.assert(fc.property(grant('et'), (et) => {
      assert.deepEqual(resolveEntitlement({ et }), { plan: et.plan, source: 'et', reference: et.reference });
    }), { numRuns: RUNS });
  });

  void it('with neither, the free default applies', () => {
    assert.deepEqual(resolveEntitlement({}), { plan: DEFAULT_PLAN, source: 'default' });
    assert.equal(DEFAULT_PLAN, 'free');
  });

  void it('the result always names its source, and the plan is the one that source recorded', () => {
    fc.assert(fc.property(state, (s) => {
      const r = resolveEntitlement(s);
      const expected = s.receipt ? 'receipt' : s.et ? 'et' : 'default';
      assert.equal(r.source, expected);
      assert.equal(r.plan, r.source === 'default' ? DEFAULT_PLAN : s[r.source]!.plan);
      // Adding an ET never changes what a receipt decided; adding a receipt always takes over.
      if (s.receipt) assert.deepEqual(resolveEntitlement({ receipt: s.receipt }), r);
    }), { numRuns: RUNS });
  });
});
