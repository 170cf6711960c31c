// The two checks behind the audit anchor, pure so the workflow's validator, the appender and
// `arbiter audit verify` apply the same rules: an update moves the anchor only by entries that
// follow its head, and a log is intact only while it still holds the anchored entry where the
// anchor says it is.
import { GENESIS_HASH, type AuditEntry } from './audit-chain.ts';
import { MAX_LINKS_PER_UPDATE, type AnchorLink, type AnchorState } from '../contract/audit-anchor.ts';

/** An anchor that cannot be read or moved, or that refuses: the append or the verification stops with it. */
export class AnchorError extends Error {
  override name = 'AnchorError';
}

export const EMPTY_ANCHOR: AnchorState = { length: 0, head: GENESIS_HASH };

const HASH = /^[0-9a-f]{64}$/;
const short = (hash: string) => `${hash.slice(0, 12)}…`;

export type Extension = { ok: true; next: AnchorState; added: number } | { ok: false; reason: string };

/**
 * Whether `links` extend the anchored head: consecutive, each following the one before, and the
 * first one not yet anchored following the anchored head. Links the anchor already holds may
 * lead (an appender catching up after a lost reply sends them again): they change nothing, and
 * links that end exactly at the anchored head are a no-op. Anything else (a gap, a fork, a link
 * that ends before the head, i.e. would move it back) is refused.
 */
export function extendAnchor(anchor: AnchorState, links: readonly AnchorLink[]): Extension {
  if (links.length === 0) return { ok: false, reason: 'no entries to anchor' };
  if (links.length > MAX_LINKS_PER_UPDATE) return { ok: false, reason: `${links.length} entries in one update (at most ${MAX_LINKS_PER_UPDATE})` };
  for (const [i, l] of links.entries()) {
    if (!l || typeof l !== 'object' || !Number.isSafeInteger(l.seq) || l.seq < 0 || typeof l.prev !== 'string' || !HASH.test(l.prev) || typeof l.hash !== 'string' || !HASH.test(l.hash)) {
      return { ok: false, reason: `link ${i} is not {seq, prev, hash} with sha256 hex hashes` };
    }
    const before = links[i - 1];
    if (before && (l.seq !== before.seq + 1 || l.prev !== before.hash)) return { ok: false, reason: `entry ${l.seq} does not follow entry ${before.seq} among the links` };
  }
  const first = links[0]!;
  const last = links.at(-1)!;
  if (first.seq > anchor.length) {
    return { ok: false, reason: `entries ${anchor.length} to ${first.seq - 1} are missing: the anchor holds ${anchor.length}, the links start at ${first.seq}` };
  }
  if (last.seq + 1 < anchor.length) {
    return { ok: false, reason: `the links end at entry ${last.seq}, before the anchored head (entry ${anchor.length - 1}): the anchor never moves back` };
  }
  if (last.seq + 1 === anchor.length) {
    return last.hash === anchor.head
      ? { ok: true, next: anchor, added: 0 }
      : { ok: false, reason: `entry ${last.seq} is ${short(last.hash)} but the anchor holds ${short(anchor.head)} there (rewritten or forked)` };
  }
  const next = links[anchor.length - first.seq]!;
  if (next.prev !== anchor.head) {
    return { ok: false, reason: `entry ${next.seq} follows ${short(next.prev)}, not the anchored head ${short(anchor.head)} (rewritten or forked)` };
  }
  return { ok: true, next: { length: last.seq + 1, head: last.hash }, added: last.seq + 1 - anchor.length };
}

export type AnchorComparison = { ok: true; unanchored: number } | { ok: false; brokenAt: number; reason: string };

/**
 * A log (its entries' hashes, in order, the chain already verified) against its anchor: it must
 * be at least as long as the anchor and hold the anchored head at the anchored place. Entries
 * after it are not anchored yet (an append whose anchor update was lost: a crash, Temporal or
 * the main worker out of reach); they are counted, not judged.
 */
export function compareWithAnchor(hashes: readonly string[], anchor: AnchorState): AnchorComparison {
  if (anchor.length === 0) return { ok: true, unanchored: hashes.length };
  if (hashes.length < anchor.length) {
    return { ok: false, brokenAt: hashes.length, reason: `the log has ${hashes.length} entr${hashes.length === 1 ? 'y' : 'ies'} but ${anchor.length} are anchored (head ${short(anchor.head)}): truncated` };
  }
  const at = hashes[anchor.length - 1]!;
  if (at !== anchor.head) {
    return { ok: false, brokenAt: anchor.length - 1, reason: `entry ${anchor.length - 1} is ${short(at)} but the anchored head there is ${short(anchor.head)}: rewritten` };
  }
  return { ok: true, unanchored: hashes.length - anchor.length };
}

/** The links of the entries from `from` on, as an update carries them. */
export function linksFrom(entries: readonly AuditEntry[], from: number): AnchorLink[] {
  return entries.slice(from).map((e) => ({ seq: e.seq, prev: e.prev, hash: e.hash }));
}
