// RFC 8785 (JCS) canonical JSON: the bytes every digest and signature in Arbiter is taken over.
// Expected outputs come from RFC 8785 itself (section 3.2.2.3, 3.2.3 and appendix B), not from
// running the implementation.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { canonicalBytes, canonicalJson, sha256Hex } from '../../lib/canonical-json.ts';

/** The IEEE 754 double whose bit pattern is the given 16 hex digits (RFC 8785 appendix B style). */
function doubleFromBits(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

void describe('canonicalJson: key order', () => {
  void it('when two objects hold the same members in different insertion orders, both give the same bytes', () => {
    const a = { b: 1, a: 2, c: { z: true, y: [1, { q: 1, p: 2 }], x: null } };
    const b = { c: { x: null, y: [1, { p: 2, q: 1 }], z: true }, a: 2, b: 1 };

    const left = canonicalBytes(a);
    const right = canonicalBytes(b);

    assert.ok(left.equals(right));
    assert.equal(canonicalJson(a), '{"a":2,"b":1,"c":{"x":null,"y":[1,{"p":2,"q":1}],"z":true}}');
  });

  void it('when keys differ in non-ASCII characters, they are sorted by UTF-16 code unit as in RFC 8785 section 3.2.3', () => {
    const value = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };

    const keys = Object.keys(JSON.parse(canonicalJson(value)) as Record<string, string>);
    const order = [...canonicalJson(value).matchAll(/"([^"]*)":"([^"]*)"/g)].map((m) => m[2]);

    assert.equal(keys.length, 7);
    assert.deepEqual(order, [
      'Carriage Return',
      'One',
      'Control',
      'Latin Small Letter O With Diaeresis',
      'Euro Sign',
      'Emoji: Grinning Face',
      'Hebrew Letter Dalet With Dagesh',
    ]);
  });

  void it('when an array holds elements, their order is kept (arrays are not sorted)', () => {
    assert.equal(canonicalJson([3, 1, 2]), '[3,1,2]');
  });

  void it('when the output is produced, it has no insignificant whitespace', () => {
    const out = canonicalJson({ a: [1, 2], b: { c: 'd e' } });

    assert.equal(out, '{"a":[1,2],"b":{"c":"d e"}}');
  });
});

void describe('canonicalJson: numbers (RFC 8785 section 3.2.2.3 and appendix B)', () => {
  const cases: Array<[string, number, string]> = [
    ['1.0 (an integral double)', 1.0, '1'],
    ['-0', -0, '0'],
    ['1e21, the first power of ten in exponent form', 1e21, '1e+21'],
    ['1e20, the last power of ten written in full', 1e20, '100000000000000000000'],
    ['0.000001, the smallest power of ten written in full', 0.000001, '0.000001'],
    ['1e-7', 1e-7, '1e-7'],
    ['the smallest subnormal double', doubleFromBits('0000000000000001'), '5e-324'],
    ['the largest double', doubleFromBits('7fefffffffffffff'), '1.7976931348623157e+308'],
    ['2^53', doubleFromBits('4340000000000000'), '9007199254740992'],
    ['appendix B 0x4430000000000000', doubleFromBits('4430000000000000'), '295147905179352830000'],
    ['appendix B 0x44b52d02c7e14af5', doubleFromBits('44b52d02c7e14af5'), '9.999999999999997e+22'],
    ['appendix B 0x44b52d02c7e14af6', doubleFromBits('44b52d02c7e14af6'), '1e+23'],
    ['appendix B 0x44b52d02c7e14af7', doubleFromBits('44b52d02c7e14af7'), '1.0000000000000001e+23'],
    ['appendix B 0x444b1ae4d6e2ef4e', doubleFromBits('444b1ae4d6e2ef4e'), '999999999999999700000'],
    ['appendix B 0x444b1ae4d6e2ef50', doubleFromBits('444b1ae4d6e2ef50'), '1e+21'],
    ['appendix B 0x3eb0c6f7a0b5ed8c', doubleFromBits('3eb0c6f7a0b5ed8c'), '9.999999999999997e-7'],
    ['appendix B 0x41b3de4355555553', doubleFromBits('41b3de4355555553'), '333333333.3333332'],
    ['appendix B 0x41b3de4355555554', doubleFromBits('41b3de4355555554'), '333333333.33333325'],
    ['appendix B 0xbecbf647612f3696', doubleFromBits('becbf647612f3696'), '-0.0000033333333333333333'],
    ['appendix B 0x43143ff3c1cb0959', doubleFromBits('43143ff3c1cb0959'), '1424953923781206.2'],
    ['a negative fraction', -1.5, '-1.5'],
  ];
  for (const [name, value, expected] of cases) {
    void it(`when the value is ${name}, it is written as ${expected}`, () => {
      assert.equal(canonicalJson(value), expected);
      assert.equal(canonicalJson({ n: value }), `{"n":${expected}}`);
    });
  }

  void it('when a number is NaN, canonicalisation throws instead of writing null', () => {
    assert.throws(() => canonicalJson(Number.NaN));
    assert.throws(() => canonicalJson({ score: Number.NaN }));
  });

  void it('when a number is infinite, canonicalisation throws', () => {
    assert.throws(() => canonicalJson(Number.POSITIVE_INFINITY));
    assert.throws(() => canonicalJson([Number.NEGATIVE_INFINITY]));
  });
});

void describe('canonicalJson: strings', () => {
  void it('when a string holds non-ASCII characters, they are written as UTF-8, not \\u-escaped', () => {
    const out = canonicalJson({ name: 'Zoë – 東京 😀' });

    assert.equal(out, '{"name":"Zoë – 東京 😀"}');
    assert.ok(!out.includes('\\u'));
    assert.ok(canonicalBytes({ name: 'é' }).equals(Buffer.from('{"name":"é"}', 'utf8')));
  });

  void it('when a string holds control characters, they are escaped, with the short forms for \\b \\t \\n \\f \\r', () => {
    const out = canonicalJson('\u0000\b\t\n\f\r\u001f"\\/');

    assert.equal(out, '"\\u0000\\b\\t\\n\\f\\r\\u001f\\"\\\\/"');
  });

  void it('when a string holds a lone surrogate, canonicalisation throws (it has no UTF-8 form)', () => {
    assert.throws(() => canonicalJson('\ud800'));
  });
});

void describe('canonicalJson: values without a JSON form', () => {
  void it('when the top-level value is undefined, it throws instead of returning "undefined"', () => {
    assert.throws(() => canonicalJson(undefined), TypeError);
    assert.throws(() => canonicalBytes(undefined), TypeError);
  });

  void it('when the top-level value is a function, it throws', () => {
    assert.throws(() => canonicalJson(() => 1), TypeError);
  });

  void it('when an object member is undefined, the member is left out as JSON.stringify does', () => {
    assert.equal(canonicalJson({ a: 1, b: undefined }), '{"a":1}');
  });

  void it('when an object refers to itself, it throws instead of looping', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;

    assert.throws(() => canonicalJson(cyclic));
  });
});

void describe('sha256Hex', () => {
  void it('when given a string, it equals node:crypto\'s sha256 of its UTF-8 bytes', () => {
    const text = '{"a":1,"name":"Zoë"}';

    assert.equal(sha256Hex(text), createHash('sha256').update(Buffer.from(text, 'utf8')).digest('hex'));
  });

  void it('when given bytes, it equals node:crypto\'s sha256 of those bytes', () => {
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);

    assert.equal(sha256Hex(bytes), createHash('sha256').update(bytes).digest('hex'));
  });

  void it('when given "abc", it is the FIPS 180-2 test vector', () => {
    assert.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  void it('when given canonical bytes of equal objects, the digests are equal', () => {
    assert.equal(sha256Hex(canonicalBytes({ x: 1, y: 2 })), sha256Hex(canonicalBytes({ y: 2, x: 1 })));
  });
});
