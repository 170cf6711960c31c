// An append-only, hash-chained JSONL file with its head recorded beside it, for logs that many
// requests append to (the billing log, the operator audit log). Appends are serialized in-process
// by a promise queue and across processes by an exclusive lock file, so the chain never forks.
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import lockfile from 'proper-lockfile';
import { dirname } from 'node:path';
import { appendEvent, verifyChainText, type AuditEntry, type AuditEvent, type ChainCheck } from '../lib/audit-chain.ts';
import { canonicalJson } from '../lib/canonical-json.ts';

const LOCK_STALE_MS = 30_000;

export class ChainedLogFile {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly file: string) {}

  get headFile(): string {
    return `${this.file}.head`;
  }

  append(event: AuditEvent): Promise<AuditEntry> {
    const next = this.queue.then(() => this.withLock(() => this.appendNow(event)));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Checks the chain and that it ends exactly at the recorded head (catches truncation). */
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

  private appendNow(event: AuditEvent): AuditEntry {
    const text = existsSync(this.file) ? readFileSync(this.file, 'utf8') : '';
    const check = verifyChainText(text);
    // Never extend a chain that is already broken: that would bury the tampering under new entries.
    if (!check.ok) throw new Error(`refusing to append to ${this.file}: ${check.reason}`);
    const lines = text.split('\n').filter(Boolean);
    const last = lines.length ? (JSON.parse(lines[lines.length - 1]!) as AuditEntry) : undefined;
    const entry = appendEvent(last ? [last] : [], event);
    appendFileSync(this.file, canonicalJson(entry) + '\n', { mode: 0o644 });
    writeFileSync(`${this.headFile}.tmp`, entry.hash);
    renameSync(`${this.headFile}.tmp`, this.headFile);
    return entry;
  }

  private async withLock<T>(fn: () => T): Promise<T> {
    mkdirSync(dirname(this.file), { recursive: true });
    // proper-lockfile: a lock directory with mtime refreshes; a lock left by a dead process goes
    // stale and is taken over.
    const release = await lockfile.lock(this.file, { realpath: false, stale: LOCK_STALE_MS, retries: { retries: 200, minTimeout: 5, maxTimeout: 50 } });
    try {
      return fn();
    } finally {
      await release();
    }
  }
}
