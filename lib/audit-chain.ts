// Hash-chained audit logs. Each entry's hash covers its canonical JSON (without the hash) and
// the previous entry's hash, so editing, inserting, deleting or reordering any entry breaks the
// chain at that entry; truncation is caught by comparing the head with the one a verdict recorded.
import { canonicalJson, sha256Hex } from './canonical-json.ts';

export const GENESIS_HASH = '0'.repeat(64);

export interface AuditEvent {
  time: string;
  actor: string;
  event: string;
  data?: Record<string, unknown>;
}

export interface AuditEntry extends AuditEvent {
  seq: number;
  prev: string;
  hash: string;
}

export function entryHash(entry: Omit<AuditEntry, 'hash'>): string {
  return sha256Hex(canonicalJson(entry));
}

export function appendEvent(chain: readonly AuditEntry[], event: AuditEvent): AuditEntry {
  const last = chain.at(-1);
  const body: Omit<AuditEntry, 'hash'> = {
    seq: last ? last.seq + 1 : 0,
    time: event.time,
    actor: event.actor,
    event: event.event,
    ...(event.data ? { data: event.data } : {}),
    prev: last ? last.hash : GENESIS_HASH,
  };
  return { ...body, hash: entryHash(body) };
}

export function buildChain(events: readonly AuditEvent[]): AuditEntry[] {
  const chain: AuditEntry[] = [];
  for (const e of events) chain.push(appendEvent(chain, e));
  return chain;
}

export function serializeChain(chain: readonly AuditEntry[]): string {
  return chain.map((e) => canonicalJson(e) + '\n').join('');
}

export type ChainCheck =
  | { ok: true; head: string; length: number; afterHead?: AuditEntry[] }
  | { ok: false; brokenAt: number; reason: string };

/**
 * Verifies a JSONL audit log. `expectedHead` is the head a verdict recorded: it must be the hash
 * of an entry in the chain, which catches truncation; entries after it (retention, holds) are
 * chained like the rest but no signature covers them: they come back in `afterHead`, so a
 * verifier can say so (anyone can append a correctly chained entry).
 */
export function verifyChainText(text: string, expectedHead?: string): ChainCheck {
  const lines = text.split('\n').filter((l) => l.length > 0);
  let prev = GENESIS_HASH;
  let sawExpected = expectedHead === undefined;
  const afterHead: AuditEntry[] = [];
  for (const [i, line] of lines.entries()) {
    let entry: AuditEntry;
    try {
      entry = JSON.parse(line) as AuditEntry;
    } catch {
      return { ok: false, brokenAt: i, reason: `entry ${i} is not JSON` };
    }
    if (!entry || typeof entry !== 'object' || Array.isArray(entry)) return { ok: false, brokenAt: i, reason: `entry ${i} is not an object` };
    if (entry.seq !== i) {
      // The file is untrusted: a sequence like {"toString":1} has no string form, so only a
      // number is quoted back.
      const seq = typeof entry.seq === 'number' ? String(entry.seq) : `of type ${entry.seq === null ? 'null' : typeof entry.seq}`;
      return { ok: false, brokenAt: i, reason: `entry ${i} has sequence ${seq} (deleted, inserted or reordered)` };
    }
    if (entry.prev !== prev) return { ok: false, brokenAt: i, reason: `entry ${i} does not follow the previous entry's hash` };
    const { hash, ...body } = entry;
    let recomputed: string;
    try {
      recomputed = entryHash(body);
    } catch {
      return { ok: false, brokenAt: i, reason: `entry ${i} cannot be hashed` };
    }
    if (recomputed !== hash) return { ok: false, brokenAt: i, reason: `entry ${i} was modified (hash mismatch)` };
    prev = hash;
    if (expectedHead !== undefined && sawExpected) afterHead.push(entry);
    if (hash === expectedHead) sawExpected = true;
  }
  if (!sawExpected) {
    return { ok: false, brokenAt: lines.length, reason: `the recorded head ${String(expectedHead).slice(0, 12)}… is not in the chain (truncated or rewritten)` };
  }
  return expectedHead === undefined ? { ok: true, head: prev, length: lines.length } : { ok: true, head: prev, length: lines.length, afterHead };
}
