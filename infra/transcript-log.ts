// The live transcript of one scenario, written by the host that runs it while the subject works:
// scenarios/<id>/transcript/transcript.jsonl and the recorded bytes under access/. Each entry is
// on disk (fsync'd) before the interaction is answered, so an answer the caller got is never
// missing from the transcript, whatever dies after. Evidence collection copies the entries and
// exactly the files they reference into evidence/ (copyTranscript), so bytes left by an append
// that died half-way never reach the verdict.
import { closeSync, copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import lockfile from 'proper-lockfile';
import { appendEvent, verifyChainText, type AuditEntry } from '../lib/audit-chain.ts';
import { canonicalJson } from '../lib/canonical-json.ts';
import { ACCESS_DIR, accessFileName, referencedFiles, TRANSCRIPT_FILE, type StreamDigest, type TerminalData, type TranscriptEvent } from '../lib/transcript.ts';
import { scenarioDir } from './results.ts';
import { redactSecrets } from './secret-redaction.ts';
import { sha256Hex } from './sha256.ts';

export function transcriptDir(storageDir: string, scenarioId: string): string {
  return join(scenarioDir(storageDir, scenarioId), 'transcript');
}

/** Written when evidence collection closes the scenario to access: survives a host restart. */
const CLOSED_MARKER = 'closed';
const LOCK_STALE_MS = 30_000;

/**
 * An input or output of the interaction: its bytes, or, for bytes passed on as they came and never
 * held whole (a streamed upload, a spooled read), their digest and the first of them.
 * `recording`: the bytes were written live at this path under the transcript folder (a terminal
 * session) and are kept whole, whatever the cap.
 */
export type RecordStream = { name: string; bytes: Buffer; recording?: string } | { name: string; digest: StreamedBytes };

/** What a transcript records of bytes it never held whole: their size and sha256, and the first of them it keeps. */
export interface StreamedBytes { size: number; sha256: string; head: Buffer }

export interface AppendRequest {
  event: TranscriptEvent;
  actor: string;
  time: Date;
  /** the entry's data without its stream digests */
  data: Record<string, unknown>;
  /** each becomes data[name] = its digest, its bytes kept up to capBytes */
  streams: RecordStream[];
  capBytes: number;
}

function writeDurably(file: string, bytes: Buffer | string, flags: 'a' | 'w'): void {
  const fd = openSync(file, flags, 0o644);
  try {
    writeSync(fd, typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Arbiter tokens in argv, paths or env names never reach evidence (infra/secret-redaction.ts). */
function redactData(data: Record<string, unknown>): Record<string, unknown> {
  const { bytes, redacted } = redactSecrets(Buffer.from(JSON.stringify(data), 'utf8'));
  return redacted ? (JSON.parse(bytes.toString('utf8')) as Record<string, unknown>) : data;
}

export class TranscriptLog {
  private queue: Promise<unknown> = Promise.resolve();
  private last: AuditEntry | undefined;
  /** the file's size when `last` was read: another writer's append shows as a different size */
  private knownSize = -1;

  constructor(readonly dir: string) {}

  get file(): string {
    return join(this.dir, TRANSCRIPT_FILE);
  }

  isClosed(): boolean {
    return existsSync(join(this.dir, CLOSED_MARKER));
  }

  close(): void {
    mkdirSync(this.dir, { recursive: true });
    writeDurably(join(this.dir, CLOSED_MARKER), new Date().toISOString(), 'w');
  }

  append(req: AppendRequest): Promise<AuditEntry> {
    const next = this.queue.then(() => this.withLock(() => this.appendNow(req)));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Where a live recording (a terminal session) is written; its entry names the same path. */
  recordingPath(name: string): { relative: string; absolute: string } {
    const relative = `${ACCESS_DIR}/${name}`;
    return { relative, absolute: join(this.dir, relative) };
  }

  private tail(): AuditEntry | undefined {
    const size = existsSync(this.file) ? statSync(this.file).size : 0;
    if (size === this.knownSize) return this.last;
    const text = size ? readFileSync(this.file, 'utf8') : '';
    const check = verifyChainText(text);
    // Never extend a broken chain: that would bury whatever broke it under new entries.
    if (!check.ok) throw new Error(`refusing to append to ${this.file}: ${check.reason}`);
    const lines = text.split('\n').filter(Boolean);
    this.last = lines.length ? (JSON.parse(lines[lines.length - 1]!) as AuditEntry) : undefined;
    this.knownSize = size;
    return this.last;
  }

  private appendNow(req: AppendRequest): AuditEntry {
    mkdirSync(join(this.dir, ACCESS_DIR), { recursive: true });
    const last = this.tail();
    const seq = last ? last.seq + 1 : 0;
    const data: Record<string, unknown> = redactData(req.data);
    for (const s of req.streams) data[s.name] = this.keep(s, seq, req.capBytes);
    const entry = appendEvent(last ? [last] : [], { time: req.time.toISOString(), actor: req.actor, event: req.event, data });
    writeDurably(this.file, canonicalJson(entry) + '\n', 'a');
    this.last = entry;
    this.knownSize = statSync(this.file).size;
    return entry;
  }

  private keep(s: RecordStream, seq: number, capBytes: number): StreamDigest {
    const { size, sha256, head } = 'digest' in s ? s.digest : { size: s.bytes.length, sha256: sha256Hex(s.bytes), head: s.bytes };
    const recording = 'bytes' in s ? s.recording : undefined;
    if (!recording && (size === 0 || capBytes <= 0)) return { size, sha256 };
    const prefix = recording || head.length <= capBytes ? head : head.subarray(0, capBytes);
    const { bytes: kept, redacted } = redactSecrets(prefix);
    const path = recording ?? accessFileName(seq, s.name);
    if (!recording || redacted) writeDurably(join(this.dir, path), kept, 'w');
    return { size, sha256, stored: { path, size: kept.length, sha256: sha256Hex(kept), ...(redacted ? { redacted } : {}) } };
  }

  private async withLock<T>(fn: () => T): Promise<T> {
    mkdirSync(this.dir, { recursive: true });
    // Two processes of one host (a restart overlapping its predecessor) must not fork the chain.
    const release = await lockfile.lock(this.dir, { realpath: false, stale: LOCK_STALE_MS, retries: { retries: 200, minTimeout: 5, maxTimeout: 50 } });
    try {
      return fn();
    } finally {
      await release();
    }
  }

  /**
   * Terminal recordings whose session never got its entry (the host died mid-session): each gets
   * one now, so a session that happened is never silently missing from the evidence.
   */
  async sealOrphans(actor: string): Promise<number> {
    const access = join(this.dir, ACCESS_DIR);
    if (!existsSync(access)) return 0;
    const text = existsSync(this.file) ? readFileSync(this.file, 'utf8') : '';
    const check = verifyChainText(text);
    const entries = check.ok ? text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEntry) : [];
    const referenced = new Set(referencedFiles(entries));
    let sealed = 0;
    for (const name of readdirSync(access).filter((n) => n.endsWith('.cast')).sort()) {
      const relative = `${ACCESS_DIR}/${name}`;
      if (referenced.has(relative)) continue;
      const bytes = readFileSync(join(access, name));
      const data: Omit<TerminalData, 'recording'> = {
        service: 'main', user: sessionUser(bytes), startedAt: sessionStart(bytes), durationMs: 0, exitCode: null, ended: 'host_restarted',
      };
      await this.append({ event: 'terminal', actor, time: new Date(), data: { ...data }, streams: [{ name: 'recording', bytes, recording: relative }], capBytes: 0 });
      sealed++;
    }
    return sealed;
  }
}

function castHeader(bytes: Buffer): Record<string, unknown> {
  try {
    return JSON.parse(bytes.subarray(0, Math.max(0, bytes.indexOf(10))).toString('utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}
function sessionUser(bytes: Buffer): string {
  const env = castHeader(bytes).env as Record<string, unknown> | undefined;
  return typeof env?.USER === 'string' ? env.USER : '';
}
function sessionStart(bytes: Buffer): string {
  const t = castHeader(bytes).timestamp;
  return typeof t === 'number' ? new Date(t * 1000).toISOString() : '';
}

/**
 * Copies the transcript and exactly the recordings its entries reference into an evidence
 * folder. Returns how many entries it holds (0: no transcript, nothing copied).
 */
export function copyTranscript(dir: string, evidenceDir: string): number {
  const file = join(dir, TRANSCRIPT_FILE);
  if (!existsSync(file)) return 0;
  const text = readFileSync(file, 'utf8');
  const entries = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEntry);
  copyFileSync(file, join(evidenceDir, TRANSCRIPT_FILE));
  for (const path of referencedFiles(entries)) {
    const from = join(dir, path);
    if (!existsSync(from)) continue;
    mkdirSync(dirname(join(evidenceDir, path)), { recursive: true });
    copyFileSync(from, join(evidenceDir, path));
  }
  return entries.length;
}
