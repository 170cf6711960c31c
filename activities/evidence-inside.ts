// Evidence read from inside a scenario container while it still runs. /work is a tmpfs: the
// engine's archive API does not see a tmpfs's contents (measured on Docker 20.10: "Could not find
// the file") and they vanish when the container stops, so a process exec'd in the container reads
// them, with the container's own user, capabilities, seccomp filter and limits.
//
// Everything read this way is subject-controlled data: the subject could have written anything
// there, so it is bounded in size and time, stored as bytes, and only ever parsed by scorers that
// treat it as untrusted. The exec'd program is the image's own busybox on a read-only root, so
// the subject cannot replace what runs, only what it reads.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { Writable } from 'node:stream';
import type Docker from 'dockerode';
import { boundedBy } from '../lib/abort-bound.ts';
import { canonicalJson } from '../lib/canonical-json.ts';
import { redactSecrets } from '../infra/secret-redaction.ts';

export const DECLARED_FILE_CAP_BYTES = 256 * 1024;
export const EXEC_TIMEOUT_MS = 10_000;
export const FILES_DIR = 'files';
export const FILES_INDEX = 'files.json';
export const OBSERVED_ISOLATION = 'isolation-observed.json';

const BUSYBOX = '/bin/busybox';
/** The observation is one short line of JSON (OBSERVE's printf). */
const OBSERVATION_MAX_BYTES = 4096;

export interface ExecCapture { exitCode: number | null; stdout: Buffer; truncated: boolean; timedOut: boolean }

/**
 * Runs argv in the container and keeps at most maxBytes of its stdout. Never waits past timeoutMs
 * in all, whichever engine call it is in (the exec's create and start included: an engine that
 * accepts the request and never answers must not hold the activity until its own timeout), and
 * stops at once when `signal` aborts (the activity was cancelled), rejecting with its reason.
 */
export async function execCapture(container: Docker.Container, cmd: string[], opts: { maxBytes: number; timeoutMs: number; signal?: AbortSignal }): Promise<ExecCapture> {
  opts.signal?.throwIfAborted();
  const deadline = AbortSignal.timeout(opts.timeoutMs);
  const bound = boundedBy(deadline, opts.signal);
  const timedOutEmpty = (err: unknown): ExecCapture => {
    if (opts.signal?.aborted) throw opts.signal.reason;
    if (deadline.aborted) return { exitCode: null, stdout: Buffer.alloc(0), truncated: false, timedOut: true };
    throw err;
  };
  let exec: Docker.Exec;
  let stream: NodeJS.ReadWriteStream;
  try {
    exec = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, AttachStdin: false, Tty: false, WorkingDir: '/', Env: [], abortSignal: bound });
    stream = await exec.start({ hijack: true, stdin: false, abortSignal: bound });
  } catch (err) {
    return timedOutEmpty(err);
  }
  const destroy = () => (stream as unknown as { destroy(): void }).destroy();
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  const stdout = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const room = opts.maxBytes - size;
      if (chunk.length > room) {
        truncated = true;
        // Enough read: stop the transfer instead of draining whatever the subject left there.
        destroy();
      }
      const kept = chunk.subarray(0, Math.max(0, room));
      chunks.push(kept);
      size += kept.length;
      cb();
    },
  });
  const stderr = new Writable({ write: (_chunk, _enc, cb) => cb() });
  (container.modem as { demuxStream(s: NodeJS.ReadableStream, o: Writable, e: Writable): void }).demuxStream(stream, stdout, stderr);
  let onAbort: (() => void) | undefined;
  const timedOut = await new Promise<boolean>((resolve, reject) => {
    const done = () => resolve(false);
    stream.on('end', done);
    stream.on('close', done);
    stream.on('error', done);
    onAbort = () => {
      destroy();
      if (opts.signal?.aborted) reject(opts.signal.reason as Error);
      else resolve(true);
    };
    if (bound.aborted) onAbort();
    else bound.addEventListener('abort', onAbort, { once: true });
  }).finally(() => {
    if (onAbort) bound.removeEventListener('abort', onAbort);
  });
  // A stream cut short (truncated, timed out) leaves the process running: it has no exit code yet.
  // The engine's answer gets a bound of its own, as the read's may be spent.
  const inspectBound = AbortSignal.timeout(opts.timeoutMs);
  const info = await exec.inspect({ abortSignal: boundedBy(inspectBound, opts.signal) }).catch((err: unknown) => {
    if (opts.signal?.aborted) throw opts.signal.reason;
    if (inspectBound.aborted) return undefined;
    throw err;
  });
  return { exitCode: !info || info.Running ? null : info.ExitCode, stdout: Buffer.concat(chunks), truncated, timedOut: timedOut || !info };
}

export type DeclaredFileStatus = 'collected' | 'truncated' | 'missing' | 'unreadable' | 'timeout' | 'unavailable' | 'refused';
export interface DeclaredFile { path: string; status: DeclaredFileStatus; size?: number; sha256?: string }

// Only the declared file itself is ever read: never what a symlink (in the leaf or in a parent)
// points to, never a fifo, device or directory. Testing the path and then reading it races (the
// subject swaps a symlink in between), so the shell opens the path once, then judges what it
// actually opened through its own descriptor (/proc/$$/fd/3: $$ is this shell, not an applet
// child): it must be a regular file whose resolved path is exactly the declared one. A swap can
// then only make collection refuse, never follow. The first test is a cheap early answer; a fifo
// swapped in after it blocks the open, which the exec timeout ends.
// Exit 3: absent. Exit 4: refused. head reads one byte past the cap so that truncation is visible.
export const READ_FILE = [
  '[ -e "$1" ] || [ -L "$1" ] || exit 3',
  '[ -f "$1" ] && [ ! -L "$1" ] || exit 4',
  'exec 3< "$1"',
  '[ "$(/bin/busybox readlink "/proc/$$/fd/3")" = "$1" ] && [ -f "/proc/$$/fd/3" ] || exit 4',
  'exec /bin/busybox head -c "$2" <&3',
].join('\n');

/** A declared path as a relative path under files/, or undefined when it is not a plain absolute path. */
export function evidenceRelPath(path: string): string | undefined {
  if (!path.startsWith('/') || path === '/' || posix.normalize(path) !== path || path.endsWith('/')) return undefined;
  return path.slice(1);
}

/** What one exec in the container gave: the file's outcome, and the isolation it observed when it was asked to. */
interface InsideRead { file: DeclaredFile; observed?: Record<string, unknown> }

async function readDeclared(container: Docker.Container, path: string, evidenceDir: string, opts: { observe: boolean; signal?: AbortSignal | undefined }): Promise<InsideRead> {
  const rel = evidenceRelPath(path);
  if (!rel) return { file: { path, status: 'refused' } };
  // The isolation observation goes first, as one line, in the same exec as the read: an exec costs
  // this engine about as much CPU as a fourth of a container start (README, issue 15). Whatever the
  // subject left in the file only ever comes after the first newline, so it cannot pass for the
  // observation. A subshell, so that nothing failing in the observation can end the read.
  const script = opts.observe ? `(\n${OBSERVE}\n)\necho\n${READ_FILE}` : READ_FILE;
  const maxBytes = (opts.observe ? OBSERVATION_MAX_BYTES : 0) + DECLARED_FILE_CAP_BYTES + 1;
  let run: ExecCapture;
  try {
    run = await execCapture(container, [BUSYBOX, 'sh', '-c', script, 'collect', path, String(DECLARED_FILE_CAP_BYTES + 1)], {
      maxBytes,
      timeoutMs: EXEC_TIMEOUT_MS,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  } catch (err) {
    // A cancelled collection stops here; otherwise the engine refused the exec (container
    // stopping, pids exhausted) and nothing was read.
    // The observation is left to the next exec, which says the same if the engine refuses it too.
    if (opts.signal?.aborted) throw err;
    return { file: { path, status: 'unavailable' } };
  }
  let stdout = run.stdout;
  let observed: Record<string, unknown> | undefined;
  if (opts.observe) {
    const eol = stdout.indexOf(0x0a);
    observed = parseObservation(eol < 0 ? undefined : stdout.subarray(0, eol), run.timedOut && eol < 0);
    stdout = eol < 0 ? Buffer.alloc(0) : stdout.subarray(eol + 1);
  }
  return { file: declaredOutcome(path, rel, { ...run, stdout }, evidenceDir), ...(observed ? { observed } : {}) };
}

function declaredOutcome(path: string, rel: string, run: ExecCapture, evidenceDir: string): DeclaredFile {
  if (run.timedOut) return { path, status: 'timeout' };
  const over = run.truncated || run.stdout.length > DECLARED_FILE_CAP_BYTES;
  if (run.exitCode === 3) return { path, status: 'missing' };
  if (run.exitCode === 4) return { path, status: 'refused' };
  if (run.exitCode !== 0 && !over) return { path, status: 'unreadable' };
  // Redacted before it is hashed, so files.json describes the bytes the bundle holds.
  const { bytes } = redactSecrets(run.stdout.subarray(0, DECLARED_FILE_CAP_BYTES));
  const file = join(evidenceDir, FILES_DIR, rel);
  mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
  writeFileSync(file, bytes, { mode: 0o644 });
  return { path, status: over ? 'truncated' : 'collected', size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

// The same facts the probe template reports, seen by a process exec'd in any scenario container
// (an exec gets the container's user, capabilities, no_new_privs and seccomp filter).
const OBSERVE = [
  'i=""; for n in $(ls /sys/class/net 2>/dev/null); do i="$i${i:+,}\\"$n\\""; done',
  'if touch /.arbiter-observe 2>/dev/null; then w=true; rm -f /.arbiter-observe; else w=false; fi',
  'c=""; n=""; s=""',
  'while read -r k v; do case $k in CapEff:) c=$v;; NoNewPrivs:) n=$v;; Seccomp:) s=$v;; esac; done < /proc/self/status',
  // Which kernel answers: gVisor's own (it logs "Starting gVisor..." to its dmesg) or the host's.
  'if dmesg 2>/dev/null | grep -q gVisor; then k=gvisor; else k=host; fi',
  'printf \'{"uid":%s,"interfaces":[%s],"rootWritable":%s,"capEff":"%s","noNewPrivs":%s,"seccomp":%s,"kernel":"%s","kernelRelease":"%s"}\' "$(id -u)" "$i" "$w" "$c" "${n:-null}" "${s:-null}" "$k" "$(uname -r)"',
].join('\n');

/** The observation line, or why there is none. */
function parseObservation(line: Buffer | undefined, timedOut: boolean): Record<string, unknown> {
  if (!line) return { observed: false, reason: timedOut ? 'timeout' : 'unparseable output' };
  try {
    return { observed: true, ...(JSON.parse(line.toString('utf8')) as Record<string, unknown>) };
  } catch {
    return { observed: false, reason: 'unparseable output' };
  }
}

/** The observation on its own, for a container with no declared path to read it along with. */
async function observeIsolation(container: Docker.Container, signal?: AbortSignal): Promise<Record<string, unknown>> {
  try {
    const run = await execCapture(container, [BUSYBOX, 'sh', '-c', OBSERVE], { maxBytes: OBSERVATION_MAX_BYTES, timeoutMs: EXEC_TIMEOUT_MS, ...(signal ? { signal } : {}) });
    if (run.timedOut || run.exitCode !== 0) return { observed: false, reason: run.timedOut ? 'timeout' : `exit code ${run.exitCode}` };
    return parseObservation(run.stdout, false);
  } catch (err) {
    if (signal?.aborted) throw err;
    return { observed: false, reason: 'exec refused by the engine' };
  }
}

/**
 * Writes files/<declared path>, files.json (what happened to each declared path) and
 * isolation-observed.json. A container that no longer runs yields "unavailable" everywhere. When
 * `signal` aborts (the scenario was cancelled), the read under way stops and the collection
 * rejects with the signal's reason instead of reading on for up to a timeout per path.
 */
export async function collectFromInside(container: Docker.Container, declaredPaths: string[], evidenceDir: string, signal?: AbortSignal): Promise<DeclaredFile[]> {
  let running = false;
  try {
    const bound = AbortSignal.timeout(EXEC_TIMEOUT_MS);
    running = (await container.inspect({ abortSignal: boundedBy(bound, signal) })).State.Running;
  } catch {
    if (signal?.aborted) throw signal.reason;
    // Gone, or an engine that does not answer: either way nothing can be read from inside.
    running = false;
  }
  const files: DeclaredFile[] = [];
  let observed: Record<string, unknown> | undefined;
  for (const path of declaredPaths) {
    if (!running) {
      files.push({ path, status: 'unavailable' });
      continue;
    }
    const read = await readDeclared(container, path, evidenceDir, { observe: observed === undefined, signal });
    files.push(read.file);
    observed ??= read.observed;
  }
  if (running) observed ??= await observeIsolation(container, signal);
  const write = (name: string, data: string) => writeFileSync(join(evidenceDir, name), data, { mode: 0o644 });
  write(FILES_INDEX, canonicalJson(files));
  write(OBSERVED_ISOLATION, canonicalJson(observed ?? { observed: false, reason: 'container not running' }));
  return files;
}
