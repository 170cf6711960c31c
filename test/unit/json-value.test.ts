import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalJson } from '../../lib/canonical-json.ts';
import { nonFiniteNumberAt } from '../../lib/json-value.ts';

void describe('nonFiniteNumberAt', () => {
  void it('when JSON text holds 1e400 or -1e400 anywhere, it names the JSON pointer of the first one', () => {
    assert.equal(nonFiniteNumberAt(JSON.parse('{"n":1e400}')), '/n');
    assert.equal(nonFiniteNumberAt(JSON.parse('{"a":[0,{"b/c":-1e400}]}')), '/a/1/b~1c');
    assert.equal(nonFiniteNumberAt(JSON.parse('1e999')), '/');
  });

  void it('when every number is finite, it answers undefined, and canonical JSON accepts the value', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      assert.equal(nonFiniteNumberAt(v), undefined);
      canonicalJson(v);
    }));
  });

  void it('when it answers undefined for a parsed body, the canonicalizer never throws on it (and it answers a path whenever it would)', () => {
    const number = fc.oneof(fc.double(), fc.constantFrom('1e400', '-1e400', '1e308', '5e-324').map(Number));
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, number, fc.string(), fc.boolean(), fc.constant(null), fc.array(tie('node')), fc.dictionary(fc.string(), tie('node'))),
    })).node;
    fc.assert(fc.property(value, (v) => {
      let throws = false;
      try {
        canonicalJson(v);
      } catch {
        throws = true;
      }
      assert.equal(nonFiniteNumberAt(v) !== undefined, throws);
    }));
  });

  void it('when a value nests 100,000 levels deep, it walks it without overflowing the stack', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    assert.equal(nonFiniteNumberAt(deep), undefined);
  });
});
