// The transcript of a scenario: every exec, file read, file write and terminal session a subject
// or operator made in it (CONTRACT "Subject access"). It is an audit chain (lib/audit-chain.ts)
// whose entries name their actor and carry, for every input and output, its size and sha256 and
// where its recorded bytes lie under evidence/access/. The chain catches a dropped, inserted or
// edited entry; the digests bind each recorded byte to its entry; the evidence manifest, and so
// the signed verdict, binds the whole file.
import { verifyChainText, type AuditEntry } from './audit-chain.ts';
import { sha256Hex } from './canonical-json.ts';

/** Paths inside the evidence folder. */
export const TRANSCRIPT_FILE = 'transcript.jsonl';
export const ACCESS_DIR = 'access';

/** `oom`: the kernel OOM-killed a process of a service (recorded by the host, not a subject's call). */
export const TRANSCRIPT_EVENTS = ['exec', 'file.read', 'file.write', 'terminal', 'oom'] as const;
export type TranscriptEvent = (typeof TRANSCRIPT_EVENTS)[number];

/**
 * One input or output of an interaction. `size` and `sha256` describe every byte that passed;
 * `stored` the bytes kept under evidence/ (a prefix of at most the template's cap), absent when
 * nothing was kept (an empty stream, or a cap of 0).
 */
export interface StreamDigest {
  size: number;
  sha256: string;
  /** `redacted`: how many Arbiter tokens were replaced in the kept bytes (infra/secret-redaction.ts) */
  stored?: { path: string; size: number; sha256: string; redacted?: number };
}

export interface ExecData {
  service: string;
  cmd: string[];
  cwd: string;
  user: string;
  /** names only: values may be secrets, and their digest is in envSha256 */
  env: string[];
  envSha256: string;
  timeoutSeconds: number | null;
  exitCode: number | null;
  timedOut: boolean;
  truncated: { stdout: boolean; stderr: boolean };
  startedAt: string;
  durationMs: number;
  stdin: StreamDigest;
  stdout: StreamDigest;
  stderr: StreamDigest;
}

export interface FileData {
  service: string;
  path: string;
  user: string;
  /** "ok", or the contract's error code (file_not_found, is_a_directory, permission_denied, too_large …) */
  outcome: string;
  content: StreamDigest;
}

export interface TerminalData {
  service: string;
  user: string;
  startedAt: string;
  durationMs: number;
  exitCode: number | null;
  /** how it ended: "exited", "client_closed", "relay_lost", "host_restarted", "scenario_ended" */
  ended: string;
  /** the asciicast v2 recording, input and output */
  recording: StreamDigest;
}

export type TranscriptData = ExecData | FileData | TerminalData;

/** The recorded digest of bytes, and the prefix of them that is kept (cap bytes; 0 keeps none). */
export function streamDigest(bytes: Uint8Array, storedPath: string, capBytes: number, hash: (b: Uint8Array) => string = sha256Hex): { digest: StreamDigest; kept: Uint8Array | undefined } {
  const sha256 = hash(bytes);
  if (bytes.length === 0 || capBytes <= 0) return { digest: { size: bytes.length, sha256 }, kept: undefined };
  const kept = bytes.length <= capBytes ? bytes : bytes.subarray(0, capBytes);
  const storedSha = kept.length === bytes.length ? sha256 : hash(kept);
  return { digest: { size: bytes.length, sha256, stored: { path: storedPath, size: kept.length, sha256: storedSha } }, kept };
}

/** The stored-bytes file name of entry `seq`: zero-padded so a listing sorts in transcript order. */
export function accessFileName(seq: number, what: string): string {
  return `${ACCESS_DIR}/${String(seq).padStart(6, '0')}-${what}`;
}

export type TranscriptCheck =
  | { ok: true; entries: AuditEntry[] }
  | { ok: false; problems: string[] };

/**
 * Checks a transcript's chain and, for every entry, that each stored file it names exists (as
 * `readStored` finds it) and has the recorded size and digest, and that a file kept whole has
 * the stream's own digest. Every problem names the entry. `readStored` returns the bytes, or a
 * string saying why they cannot be read.
 */
export function verifyTranscript(text: string, readStored: (path: string) => Uint8Array | string, hash: (b: Uint8Array) => string = sha256Hex): TranscriptCheck {
  const chain = verifyChainText(text);
  if (!chain.ok) return { ok: false, problems: [`${TRANSCRIPT_FILE}: chain broken: ${chain.reason}`] };
  const entries = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEntry);
  const problems: string[] = [];
  const referenced = new Set<string>();
  for (const entry of entries) {
    const where = `${TRANSCRIPT_FILE} entry ${entry.seq} (${typeof entry.event === 'string' ? entry.event : '?'})`;
    for (const [name, s] of streamsOf(entry)) {
      if (!isDigest(s)) {
        problems.push(`${where}: ${name} has no size and sha256`);
        continue;
      }
      if (!s.stored) continue;
      const path = s.stored.path;
      if (typeof path !== 'string' || !path.startsWith(`${ACCESS_DIR}/`) || path.includes('..')) {
        problems.push(`${where}: ${name} names a recording outside ${ACCESS_DIR}/`);
        continue;
      }
      if (referenced.has(path)) problems.push(`${where}: ${name} names ${path}, which another entry also names`);
      referenced.add(path);
      // A terminal session's one stream is itself the recording: not "recording recording".
      const what = name === 'recording' ? `recording ${path}` : `${name} recording ${path}`;
      const bytes = readStored(path);
      if (typeof bytes === 'string') {
        problems.push(`${where}: ${what}: ${bytes}`);
        continue;
      }
      if (bytes.length !== s.stored.size || hash(bytes) !== s.stored.sha256) {
        problems.push(`${where}: ${what} does not match its digest (changed after it was recorded)`);
      } else if (s.stored.size === s.size && !s.stored.redacted && s.stored.sha256 !== s.sha256) {
        problems.push(`${where}: ${what} is whole but its digest is not the stream's`);
      } else if (s.stored.size > s.size && !s.stored.redacted) {
        problems.push(`${where}: ${what} is longer than the stream`);
      }
    }
  }
  return problems.length ? { ok: false, problems } : { ok: true, entries };
}

/** The recorded files every entry names: a verifier compares them with what is under access/. */
export function referencedFiles(entries: readonly AuditEntry[]): string[] {
  return entries.flatMap((e) => streamsOf(e).flatMap(([, s]) => (isDigest(s) && s.stored && typeof s.stored.path === 'string' ? [s.stored.path] : [])));
}

function streamsOf(entry: AuditEntry): Array<[string, unknown]> {
  const data = entry.data ?? {};
  switch (entry.event) {
    case 'exec': return [['stdin', data.stdin], ['stdout', data.stdout], ['stderr', data.stderr]];
    case 'file.read':
    case 'file.write': return [['content', data.content]];
    case 'terminal': return [['recording', data.recording]];
    default: return [];
  }
}

function isDigest(v: unknown): v is StreamDigest {
  if (!v || typeof v !== 'object') return false;
  const s = v as StreamDigest;
  if (typeof s.size !== 'number' || typeof s.sha256 !== 'string') return false;
  if (s.stored === undefined) return true;
  return !!s.stored && typeof s.stored === 'object' && typeof s.stored.size === 'number' && typeof s.stored.sha256 === 'string';
}
