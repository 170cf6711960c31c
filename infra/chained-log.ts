// An append-only, hash-chained JSONL file with its head recorded beside it, for logs that many
// requests append to (the billing log, the operator audit log). Appends are serialized in-process
// by a promise queue and across processes by an exclusive lock file, so the chain never forks.
//
// The `.head` file beside the log catches a truncation of the log alone; whoever can write the
// folder can rewrite both. With an anchor (infra/log-anchor.ts) the head is also held in Temporal:
// under the lock, an append first checks that the log still holds the anchored head, then writes
// the entry, then moves the anchor over it (and over any entry an earlier append wrote but could
// not anchor). A crash or an unreachable anchor between the write and the anchor leaves entries
// after the anchored head: verification counts them as not yet anchored; the next append anchors them.
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import lockfile from 'proper-lockfile';
import { dirname } from 'node:path';
import { appendEvent, verifyChainText, type AuditEntry, type AuditEvent, type ChainCheck } from '../lib/audit-chain.ts';
import { AnchorError, compareWithAnchor, linksFrom } from '../lib/audit-anchor.ts';
import { canonicalJson } from '../lib/canonical-json.ts';
import type { AnchorRead, LogAnchor } from './log-anchor.ts';

const LOCK_STALE_MS = 30_000;

/** The anchor as a verification saw it. */
export interface AnchorReport {
  workflowId: string;
  namespace: string;
  status: AnchorRead['status'];
  closedAs?: string;
  length: number;
  head: string;
  /** entries after the anchored head (written, their anchor update not confirmed yet) */
  unanchored: number;
}

export type AnchoredCheck = (ChainCheck & { ok: true; anchor: AnchorReport }) | (ChainCheck & { ok: false; anchor?: AnchorReport });

export class ChainedLogFile {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly file: string, readonly anchor?: LogAnchor) {}

  get headFile(): string {
    return `${this.file}.head`;
  }

  append(event: AuditEvent): Promise<AuditEntry> {
    const next = this.queue.then(() => this.withLock(() => this.appendNow(event)));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Checks the chain and that it ends exactly at the recorded head (catches truncation of the log alone). */
  verify(): ChainCheck {
    const text = existsSync(this.file) ? readFileSync(this.file, 'utf8') : '';
    const check = verifyChainText(text);
    if (!check.ok) return check;
    const recorded = existsSync(this.headFile) ? readFileSync(this.headFile, 'utf8').trim() : '';
    const head = check.length === 0 ? '' : check.head;
    if (recorded !== head) {
      return { ok: false, brokenAt: check.length, reason: `the log ends at ${head.slice(0, 12) || 'nothing'}… but its recorded head is ${recorded.slice(0, 12) || 'nothing'}… (truncated or rewritten)` };
    }
    return check;
  }

  /**
   * verify(), then the log against its anchor: it must hold the anchored head where the anchor says
   * (catches the log truncated or rewritten together with its `.head`). Throws AnchorError when the
   * anchor cannot be read.
   */
  async verifyAnchored(): Promise<AnchoredCheck> {
    if (!this.anchor) throw new Error(`${this.file} has no anchor to verify against`);
    const text = existsSync(this.file) ? readFileSync(this.file, 'utf8') : '';
    const chain = verifyChainText(text);
    if (!chain.ok) return chain;
    const read = await this.anchor.read();
    const hashes = text.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as AuditEntry).hash);
    const against = compareWithAnchor(hashes, read.state);
    const anchor: AnchorReport = {
      workflowId: this.anchor.workflowId,
      namespace: this.anchor.client.options.namespace,
      status: read.status,
      ...(read.closedAs ? { closedAs: read.closedAs } : {}),
      length: read.state.length,
      head: read.state.head,
      unanchored: against.ok ? against.unanchored : 0,
    };
    if (!against.ok) return { ok: false, brokenAt: against.brokenAt, reason: `${against.reason}, says the anchor ${this.anchor.name}`, anchor };
    return { ...this.verify(), anchor };
  }

  private async appendNow(event: AuditEvent): Promise<AuditEntry> {
    const text = existsSync(this.file) ? readFileSync(this.file, 'utf8') : '';
    const check = verifyChainText(text);
    // Never extend a chain that is already broken: that would bury the tampering under new entries.
    if (!check.ok) throw new Error(`refusing to append to ${this.file}: ${check.reason}`);
    const chain = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEntry);
    // Reserve: the log must still hold what the anchor holds before anything is added after it.
    const anchored = this.anchor ? await this.anchor.read() : undefined;
    if (anchored) {
      const against = compareWithAnchor(chain.map((e) => e.hash), anchored.state);
      if (!against.ok) throw new AnchorError(`refusing to append to ${this.file}: ${against.reason}, says the anchor ${this.anchor!.name}`);
    }
    const entry = appendEvent(chain.slice(-1), event);
    appendFileSync(this.file, canonicalJson(entry) + '\n', { mode: 0o644 });
    writeFileSync(`${this.headFile}.tmp`, entry.hash);
    renameSync(`${this.headFile}.tmp`, this.headFile);
    // Then anchor: this entry and any an earlier append wrote but could not anchor.
    if (anchored) await this.anchor!.advance(anchored, linksFrom([...chain, entry], anchored.state.length));
    return entry;
  }

  private async withLock<T>(fn: () => Promise<T>): Promise<T> {
    mkdirSync(dirname(this.file), { recursive: true });
    // proper-lockfile: a lock directory with mtime refreshes; a lock left by a dead process goes
    // stale and is taken over. A holder may wait on the anchor for a while (ANCHOR_TIMEOUT_MS per
    // call), so waiters wait long enough for a queue of such appends.
    const release = await lockfile.lock(this.file, { realpath: false, stale: LOCK_STALE_MS, retries: { retries: 1000, minTimeout: 5, maxTimeout: 100 } });
    try {
      return await fn();
    } finally {
      await release();
    }
  }
}
