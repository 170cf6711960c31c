// The audit anchor's rules (lib/audit-anchor.ts), as the workflow's validator, the appender and
// `arbiter audit verify` apply them: the anchor moves only over entries that follow its head, and
// a log is intact only while it holds the anchored head where the anchor says.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildChain, GENESIS_HASH, type AuditEntry } from '../../lib/audit-chain.ts';
import { compareWithAnchor, EMPTY_ANCHOR, extendAnchor, linksFrom } from '../../lib/audit-anchor.ts';
import { MAX_LINKS_PER_UPDATE, type AnchorState } from '../../contract/audit-anchor.ts';

const chain: AuditEntry[] = buildChain(Array.from({ length: 6 }, (_, i) => ({ time: `2026-01-01T00:00:0${i}.000Z`, actor: 'operator:olga', event: 'scenario.hold', data: { i } })));
const at = (length: number): AnchorState => (length === 0 ? EMPTY_ANCHOR : { length, head: chain[length - 1]!.hash });
const hashes = chain.map((e) => e.hash);

describe('extendAnchor: an update moves the anchor only forward, over entries that follow its head', () => {
  it('when the links start right after the head, the anchor moves to their last entry', () => {
    assert.deepEqual(extendAnchor(at(3), linksFrom(chain, 3)), { ok: true, next: at(6), added: 3 });
  });

  it('when the anchor is empty, the links must start at entry 0 after the genesis hash', () => {
    assert.deepEqual(extendAnchor(EMPTY_ANCHOR, linksFrom(chain, 0)), { ok: true, next: at(6), added: 6 });
    assert.equal(extendAnchor(EMPTY_ANCHOR, linksFrom(chain, 1)).ok, false);
  });

  it('when links the anchor already holds lead (a retried catch-up), only the new ones count', () => {
    assert.deepEqual(extendAnchor(at(3), linksFrom(chain, 1)), { ok: true, next: at(6), added: 3 });
  });

  it('when the links end exactly at the head, nothing changes (a repeated update)', () => {
    assert.deepEqual(extendAnchor(at(4), linksFrom(chain, 2).slice(0, 2)), { ok: true, next: at(4), added: 0 });
  });

  it('when the links would move the anchor back, they are refused', () => {
    const r = extendAnchor(at(5), linksFrom(chain, 0).slice(0, 3));
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.reason : '', /never moves back/);
  });

  it('when an entry is missing between the head and the links, they are refused', () => {
    const r = extendAnchor(at(2), linksFrom(chain, 3));
    assert.match(!r.ok ? r.reason : '', /entries 2 to 2 are missing/);
  });

  it('when the first new entry does not follow the anchored head (a rewritten or forked log), it is refused', () => {
    const other = buildChain([{ time: 't', actor: 'mallory', event: 'x' }, { time: 't', actor: 'mallory', event: 'y' }, { time: 't', actor: 'mallory', event: 'z' }]);
    const r = extendAnchor(at(2), linksFrom(other, 2));
    assert.match(!r.ok ? r.reason : '', /entry 2 follows .* not the anchored head/);
    // Another chain's entries sent again up to the head's place
    const forked = extendAnchor(at(3), linksFrom(other, 0));
    assert.match(!forked.ok ? forked.reason : '', /entry 2 is .* but the anchor holds .* there/);
  });

  it('when the links are not a chain among themselves, they are refused', () => {
    const links = linksFrom(chain, 3);
    const swapped = [links[1]!, links[0]!, links[2]!];
    assert.match((extendAnchor(at(3), swapped) as { reason: string }).reason, /does not follow entry/);
    const relinked = links.map((l, i) => (i === 2 ? { ...l, prev: hashes[0]! } : l));
    assert.match((extendAnchor(at(3), relinked) as { reason: string }).reason, /entry 5 does not follow entry 4/);
  });

  it('when a link is malformed, none or too many are sent, they are refused', () => {
    assert.equal(extendAnchor(at(3), []).ok, false);
    assert.equal(extendAnchor(at(3), [{ seq: 3, prev: chain[2]!.hash, hash: 'not-hex' }]).ok, false);
    assert.equal(extendAnchor(at(3), [{ seq: -1, prev: chain[2]!.hash, hash: chain[3]!.hash }]).ok, false);
    assert.equal(extendAnchor(at(3), [null as never]).ok, false);
    const many = Array.from({ length: MAX_LINKS_PER_UPDATE + 1 }, (_, i) => ({ seq: i, prev: GENESIS_HASH, hash: GENESIS_HASH }));
    assert.match((extendAnchor(EMPTY_ANCHOR, many) as { reason: string }).reason, /at most/);
  });
});

describe('compareWithAnchor: the log must hold the anchored head where the anchor says', () => {
  it('when the log ends at the anchored head, nothing is unanchored', () => {
    assert.deepEqual(compareWithAnchor(hashes, at(6)), { ok: true, unanchored: 0 });
  });

  it('when the log goes on past the anchored head (an append whose anchor update was lost), the rest is counted as unanchored', () => {
    assert.deepEqual(compareWithAnchor(hashes, at(5)), { ok: true, unanchored: 1 });
    assert.deepEqual(compareWithAnchor(hashes, EMPTY_ANCHOR), { ok: true, unanchored: 6 });
  });

  it('when the log is shorter than the anchor (truncated, with or without its .head), it is broken where entries are missing', () => {
    const r = compareWithAnchor(hashes.slice(0, 4), at(6));
    assert.deepEqual(r.ok ? undefined : r.brokenAt, 4);
    assert.match(r.ok ? '' : r.reason, /the log has 4 entries but 6 are anchored .*truncated/);
  });

  it('when the entry at the anchored place is another one (the tail rewritten with a consistent chain), it is broken there', () => {
    const rewritten = [...hashes.slice(0, 5), 'f'.repeat(64)];
    const r = compareWithAnchor(rewritten, at(6));
    assert.deepEqual(r.ok ? undefined : r.brokenAt, 5);
    assert.match(r.ok ? '' : r.reason, /entry 5 is ffffffffffff… but the anchored head there is .*rewritten/);
  });
});
