// Properties of the hash-chained audit log (lib/audit-chain.ts) over generated logs: a valid
// chain verifies, any single mutation of it is detected, and verification of anything at all
// answers instead of throwing (it runs on files an attacker may have written).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildChain, entryHash, serializeChain, verifyChainText, type AuditEntry, type AuditEvent } from '../../lib/audit-chain.ts';
import { canonicalJson } from '../../lib/canonical-json.ts';

const RUNS = 500;

const trickyKey = fc.constantFrom('__proto__', 'constructor', 'toString', 'valueOf', 'seq', 'prev', 'hash', '');
const anyJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.string({ unit: 'binary' }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.string(), trickyKey), tie('value'), { maxKeys: 4, noNullPrototype: false }),
  ),
})).value;

const event: fc.Arbitrary<AuditEvent> = fc.record({
  time: fc.date({ noInvalidDate: true, min: new Date('2000-01-01'), max: new Date('2100-01-01') }).map((d) => d.toISOString()),
  actor: fc.string({ minLength: 1, maxLength: 20 }),
  event: fc.string({ minLength: 1, maxLength: 30 }),
  data: fc.option(fc.dictionary(fc.string({ maxLength: 10 }), anyJson, { maxKeys: 4 }), { nil: undefined }),
}, { requiredKeys: ['time', 'actor', 'event'] });
const events = fc.array(event, { minLength: 1, maxLength: 12 });

const FIELDS = ['seq', 'time', 'actor', 'event', 'data', 'prev', 'hash'] as const;

type Mutation =
  | { kind: 'edit'; at: number; field: (typeof FIELDS)[number]; value: unknown; rehash: boolean }
  | { kind: 'delete'; at: number }
  | { kind: 'swap'; at: number; with: number }
  | { kind: 'duplicate'; at: number; to: number }
  | { kind: 'truncate'; keep: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('edit' as const), at: fc.nat(), field: fc.constantFrom(...FIELDS), value: anyJson, rehash: fc.boolean() }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('swap' as const), at: fc.nat(), with: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), to: fc.nat() }),
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat() }),
);

/** The chain after the mutation, or undefined when the mutation would change nothing. */
function mutate(chain: AuditEntry[], m: Mutation): Record<string, unknown>[] | undefined {
  const out: Record<string, unknown>[] = chain.map((e) => ({ ...e }));
  const n = out.length;
  switch (m.kind) {
    case 'edit': {
      const entry = out[m.at % n]!;
      if (canonicalJson(entry[m.field] ?? null) === canonicalJson(m.value ?? null) && (entry[m.field] === undefined) === (m.value === undefined)) return undefined;
      if (m.value === undefined) delete entry[m.field];
      else entry[m.field] = m.value;
      // A forger who also recomputes the edited entry's own hash.
      if (m.rehash && m.field !== 'hash') {
        const { hash: _old, ...body } = entry;
        try {
          entry.hash = entryHash(body as Omit<AuditEntry, 'hash'>);
        } catch {
          // not hashable (an edit JCS cannot represent): left as edited
        }
      }
      return out;
    }
    case 'delete':
      out.splice(m.at % n, 1);
      return out;
    case 'swap': {
      const [i, j] = [m.at % n, m.with % n];
      if (i === j) return undefined;
      [out[i], out[j]] = [out[j]!, out[i]!];
      return out;
    }
    case 'duplicate':
      out.splice(m.to % (n + 1), 0, { ...out[m.at % n]! });
      return out;
    case 'truncate':
      if (m.keep % n === n - 1 && n === 0) return undefined;
      return out.slice(0, m.keep % n);
  }
}

const lines = (entries: Record<string, unknown>[]) => entries.map((e) => `${JSON.stringify(e)}\n`).join('');

void describe('audit chain, for any sequence of events', () => {
  void it('the chain built from the events verifies, its head is the last hash, and its length the number of events', () => {
    fc.assert(fc.property(events, (evs) => {
      const chain = buildChain(evs);
      const check = verifyChainText(serializeChain(chain), chain.at(-1)!.hash);
      assert.deepEqual(check, { ok: true, head: chain.at(-1)!.hash, length: evs.length, afterHead: [] });
    }), { numRuns: RUNS });
  });

  void it('any single edit, deletion, swap, duplication or truncation is detected against the recorded head', () => {
    fc.assert(fc.property(events, mutation, (evs, m) => {
      const chain = buildChain(evs);
      const mutated = mutate(chain, m);
      fc.pre(mutated !== undefined);
      const check = verifyChainText(lines(mutated), chain.at(-1)!.hash);
      assert.equal(check.ok, false, `undetected ${JSON.stringify(m)}`);
    }), { numRuns: RUNS * 4 });
  });

  void it('a chain whose text has one character changed verifies only if it still says exactly the same thing', () => {
    fc.assert(fc.property(events, fc.nat(), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), (evs, at, ch) => {
      const chain = buildChain(evs);
      const text = serializeChain(chain);
      const i = at % text.length;
      fc.pre(text[i] !== ch);
      const changed = text.slice(0, i) + ch + text.slice(i + 1);
      const check = verifyChainText(changed, chain.at(-1)!.hash);
      if (check.ok) {
        const parsed = changed.split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown);
        assert.deepStrictEqual(parsed, JSON.parse(JSON.stringify(chain)), 'a changed chain verified with different content');
      }
    }), { numRuns: RUNS * 4 });
  });
});

void describe('audit chain verification, for any input at all', () => {
  /** Lines that look like entries (the fields the verifier reads, with values of any type). */
  const entryish = fc.record({
    seq: fc.oneof(fc.nat({ max: 3 }), anyJson),
    prev: fc.oneof(fc.constant('0'.repeat(64)), anyJson),
    hash: anyJson,
    time: anyJson,
    data: anyJson,
  }, { requiredKeys: [] });
  const line = fc.oneof(
    fc.string({ unit: 'binary' }),
    anyJson.map((v) => JSON.stringify(v)),
    entryish.map((v) => JSON.stringify(v)),
  );
  const text = fc.array(line, { maxLength: 6 }).map((ls) => ls.join('\n'));

  void it('answers ok or broken, and never throws', () => {
    fc.assert(fc.property(text, fc.option(fc.string(), { nil: undefined }), (t, head) => {
      const check = verifyChainText(t, head);
      assert.equal(typeof check.ok, 'boolean');
      if (!check.ok) assert.equal(typeof check.reason, 'string');
    }), { numRuns: RUNS * 4 });
  });

  void it('answers for entries whose fields are objects that cannot be turned into strings', () => {
    for (const seq of [{ toString: 1 }, { valueOf: 1, toString: null }, { toString: {} }]) {
      const check = verifyChainText(`${JSON.stringify({ seq, prev: '0'.repeat(64), hash: 'x' })}\n`);
      assert.equal(check.ok, false);
    }
  });
});
