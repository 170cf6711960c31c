// Properties of canonical JSON (lib/canonical-json.ts, RFC 8785) over generated JSON values:
// the bytes every digest and signature is taken over must not depend on how a value was built.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalJson } from '../../lib/canonical-json.ts';

const RUNS = 1_000;

/** Keys that are special somewhere in JavaScript, mixed into the generated objects. */
const trickyKey = fc.constantFrom('__proto__', 'constructor', 'toString', 'valueOf', '', '1', '01', '-1', '\u0000', '\ud83d\ude00', 'é', 'e\u0301');
const key = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), trickyKey);
/** Any JSON value: objects with awkward keys, full-unicode strings, doubles of every magnitude. */
const jsonValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.string({ unit: 'binary' }),
    fc.array(tie('value'), { maxLength: 6 }),
    fc.dictionary(key, tie('value'), { maxKeys: 6, noNullPrototype: false }),
  ),
})).value;

/** JSON has no negative zero: RFC 8785 (3.2.2.3) writes -0 as 0, so that is what comes back. */
function withoutNegativeZero(v: unknown): unknown {
  if (Object.is(v, -0)) return 0;
  if (Array.isArray(v)) return v.map(withoutNegativeZero);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) Object.defineProperty(out, k, { value: withoutNegativeZero((v as Record<string, unknown>)[k]), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return v;
}

/** The same members, inserted in the order the permutation says, at every level. */
function reordered(v: unknown, pick: (n: number) => number): unknown {
  if (Array.isArray(v)) return v.map((x) => reordered(x, pick));
  if (v && typeof v === 'object') {
    const keys = Object.keys(v);
    const order: string[] = [];
    while (keys.length) order.push(keys.splice(pick(keys.length), 1)[0]!);
    const out: Record<string, unknown> = {};
    for (const k of order) Object.defineProperty(out, k, { value: reordered((v as Record<string, unknown>)[k], pick), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return v;
}

void describe('canonical JSON, for any JSON value', () => {
  void it('canonicalizing the parsed canonical form again gives the same bytes (idempotent)', () => {
    fc.assert(fc.property(jsonValue, (v) => {
      const once = canonicalJson(v);
      assert.equal(canonicalJson(JSON.parse(once)), once);
    }), { numRuns: RUNS });
  });

  void it('the bytes do not depend on the order in which object members were inserted', () => {
    fc.assert(fc.property(jsonValue, fc.infiniteStream(fc.nat()), (v, choices) => {
      const it = choices[Symbol.iterator]();
      const shuffled = reordered(v, (n) => (it.next().value as number) % n);
      assert.equal(canonicalJson(shuffled), canonicalJson(v));
    }), { numRuns: RUNS });
  });

  void it('parsing the canonical form gives back the value (negative zero reads as zero)', () => {
    fc.assert(fc.property(jsonValue, (v) => {
      assert.deepStrictEqual(JSON.parse(canonicalJson(v)), withoutNegativeZero(v));
    }), { numRuns: RUNS });
  });

  void it('the canonical form is valid JSON without insignificant whitespace, whatever the value', () => {
    fc.assert(fc.property(jsonValue, (v) => {
      const text = canonicalJson(v);
      // Outside string literals there is no whitespace at all.
      assert.doesNotMatch(text.replace(/"(?:[^"\\]|\\.)*"/g, '""'), /\s/);
      assert.deepStrictEqual(JSON.parse(text), JSON.parse(JSON.stringify(v)));
    }), { numRuns: RUNS });
  });
});
