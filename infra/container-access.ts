// What a subject does inside a running scenario container, done by the host that runs it: run a
// command, read a file, write a file, attach a TTY. Everything goes through `docker exec` as the
// template's user, so the container's own read-only root, capabilities, seccomp filter, limits and
// (tmpfs) mounts apply; paths, `..` and symbolic links resolve inside the container, never on the
// host. The engine's archive API is not used: it cannot see a tmpfs and refuses a read-only root.
import type Docker from 'dockerode';
import { randomBytes } from 'node:crypto';
import { Writable, type Duplex, type Readable } from 'node:stream';
import { boundedBy } from '../lib/abort-bound.ts';

/** CONTRACT "Subject access": caps on what one call moves. */
export const ACCESS_LIMITS = {
  outputBytes: 10 * 1024 * 1024,
  fileBytes: 100 * 1024 * 1024,
  inputBytes: 10 * 1024 * 1024,
  argvItems: 4096,
  argvBytes: 256 * 1024,
  envItems: 256,
  /** calls of one scenario on their way at once, their answers included (429 too_many_requests) */
  callsInFlight: 16,
  defaultTimeoutSeconds: 600,
  maxTimeoutSeconds: 3600,
} as const;

export class AccessError extends Error {
  override name = 'AccessError';
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export interface ExecOptions {
  cmd: string[];
  /** a stream is written as it comes (OpenExec.finish) */
  stdin: Buffer | Readable;
  /** where stdout goes; by default it is held in memory up to the call's output cap */
  stdout?: OutputSink;
  cwd: string;
  env: Record<string, string>;
  user: string;
  timeoutSeconds: number;
  /** aborts the exec (the caller went away, the host is stopping): the process is killed */
  signal?: AbortSignal;
  /** the container's OCI runtime (HostConfig.Runtime): under runsc a process is killed from inside */
  runtime?: string | undefined;
}

export interface ExecOutcome {
  exitCode: number | null;
  stdout: Buffer;
  stderr: Buffer;
  truncated: { stdout: boolean; stderr: boolean };
  timedOut: boolean;
  startedAt: Date;
  durationMs: number;
}

interface ExecInspect { Running: boolean; ExitCode: number | null; Pid: number }

/**
 * How long an engine call that answers at once (an exec's inspect) may take: an engine that never
 * answers must not hold a terminal's end, and with it the scenario's evidence collection, forever.
 */
const ENGINE_ANSWER_MS = 10_000;

function inspectExec(exec: Docker.Exec): Promise<ExecInspect> {
  return exec.inspect({ abortSignal: AbortSignal.timeout(ENGINE_ANSWER_MS) });
}

/**
 * Kills an exec'd process and every process in its group. runc makes each exec'd process a
 * session and group leader (measured: pgid = sid = pid), so children it started die with it
 * unless they left its group on purpose. The host PID comes from the engine.
 */
export function killGroup(pid: number): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * Marks every process of one exec under gVisor, where the host cannot reach them: the PID the
 * engine reports there is the host's `runsc exec` process, a member of the shim's process group
 * (measured), so `killGroup` finds no group of that id and the sandboxed command ran on past its
 * timeout (a 1 s timeout on an 8 s sleep answered after 8.4 s). Inside gVisor's kernel each exec'd
 * process is a session and group leader (pgid = sid = pid, ppid 0; measured), and every process it
 * starts inherits its environment, so the mark finds them all from inside the container.
 */
export const EXEC_MARK_ENV = 'ARBITER_EXEC';

/** A mark per exec ("x…") or per terminal session ("tty-…"), unguessable, safe in a grep pattern. */
function newMark(kind: 'x' | 'tty-'): string {
  return `${kind}${randomBytes(12).toString('hex')}`;
}

/** Every terminal session's mark matches this (a host that restarted ends its predecessor's). */
export const TERMINAL_MARKS = 'tty-[0-9a-f]*';

// Run as the exec's own user with the image's busybox (read-only root, so the subject cannot
// replace it): each process whose environment carries a matching mark is killed with its group
// (it is a group leader when it is the exec'd process) and alone (a child that left the group).
// A process that replaced its environment (exec env -i …) is out of reach, as a process that left
// its group is under runc.
const KILL_MARKED = `for d in /proc/[0-9]*; do
  p=\${d#/proc/}
  /bin/busybox tr '\\0' '\\n' 2>/dev/null < "$d/environ" | /bin/busybox grep -qx "${EXEC_MARK_ENV}=$1" || continue
  kill -KILL -"$p" 2>/dev/null
  kill -KILL "$p" 2>/dev/null
done 2>/dev/null
exit 0`;

/** Kills, from inside a gVisor container, every process carrying a mark that matches `pattern`. */
export async function killMarked(container: Docker.Container, pattern: string, user: string): Promise<void> {
  await execInContainer(container, {
    cmd: ['/bin/busybox', 'sh', '-c', KILL_MARKED, 'arbiter-kill', pattern], stdin: Buffer.alloc(0), cwd: '/', env: {}, user, timeoutSeconds: 10,
  }, 4096).catch(() => undefined);
}

/** How one exec's processes are killed: by the host's group, or by its mark inside gVisor. */
function killerOf(container: Docker.Container, runtime: string | undefined, user: string): { env: Record<string, string>; kill(pid: number): Promise<void> } {
  if (runtime !== 'runsc') return { env: {}, kill: async (pid) => killGroup(pid) };
  const mark = newMark('x');
  return { env: { [EXEC_MARK_ENV]: mark }, kill: () => killMarked(container, mark, user) };
}

/** Where a process's output goes: `bytes()` is what the answer carries of it. */
export interface OutputSink extends Writable {
  readonly truncated: boolean;
  bytes(): Buffer;
}

class CappedSink extends Writable implements OutputSink {
  readonly chunks: Buffer[] = [];
  size = 0;
  truncated = false;
  constructor(private readonly cap: number) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    const room = this.cap - this.size;
    if (chunk.length > room) this.truncated = true;
    if (room > 0) {
      const kept = chunk.subarray(0, room);
      this.chunks.push(kept);
      this.size += kept.length;
    }
    cb();
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export async function execInContainer(container: Docker.Container, opts: ExecOptions, outputCap: number = ACCESS_LIMITS.outputBytes): Promise<ExecOutcome> {
  opts.signal?.throwIfAborted();
  const startedAt = new Date();
  // The exec's timeout counts from the call, not from the process's start: an engine that takes
  // the exec's create or start and never answers must not hold the caller past it.
  const deadline = AbortSignal.timeout(opts.timeoutSeconds * 1000);
  let opened: OpenExec;
  try {
    opened = await openExec(container, { ...opts, signal: boundedBy(deadline, opts.signal) }, outputCap);
  } catch (err) {
    opts.signal?.throwIfAborted();
    if (!deadline.aborted) throw err;
    const none = Buffer.alloc(0);
    return { exitCode: null, stdout: none, stderr: none, truncated: { stdout: false, stderr: false }, timedOut: true, startedAt, durationMs: Date.now() - startedAt.getTime() };
  }
  const left = Math.max(0, opts.timeoutSeconds * 1000 - (Date.now() - startedAt.getTime()));
  return opened.finish(opts.stdin, left / 1000, opts.signal);
}

/** A process started in a container that waits for its stdin: `finish` writes it and takes the answer. */
export interface OpenExec {
  /** the process has ended (or its stream broke) before `finish`: it can only answer as it ended */
  readonly ended: boolean;
  /**
   * Writes stdin, closes it, waits (at most `timeoutSeconds`) for the process to exit and answers
   * as execInContainer. A stream is written as it comes, and the timeout counts from its end; if it
   * fails, the process's stdin is cut
   * (the connection dropped) rather than closed, and the process sees the same EOF: only a process
   * that knows how many bytes to expect can tell the two apart (writeContainerFile). Whatever of it
   * the process did not read is left unread.
   */
  finish(stdin: Buffer | Readable, timeoutSeconds: number, signal?: AbortSignal): Promise<ExecOutcome>;
  /** drops the connection: the engine closes the process's stdin, which then sees EOF */
  abandon(): void;
}

export interface OpenExecOptions extends Omit<ExecOptions, 'stdin' | 'timeoutSeconds'> {
  /**
   * What the process writes to stdout, and nothing else, as its last act before exiting 0: seen
   * when its output closes, it answers exit code 0 without asking the engine (one round trip fewer
   * on a claim's path). Any other output is answered by the engine, as without it.
   */
  doneMarker?: string;
}

/**
 * Starts a process with its stdin held open. execInContainer finishes it at once; a warm pool
 * starts one in an entry before anyone claims it, so the claim pays for a write to it instead of
 * for the engine's exec create and start (measured: about 15 ms against 80-130 ms). `signal`
 * aborts those two requests only; the process, once started, answers to `finish`.
 */
export async function openExec(container: Docker.Container, opts: OpenExecOptions, outputCap: number = ACCESS_LIMITS.outputBytes): Promise<OpenExec> {
  const killer = killerOf(container, opts.runtime, opts.user);
  const exec = await container.exec({
    Cmd: opts.cmd,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    WorkingDir: opts.cwd,
    Env: Object.entries({ ...opts.env, ...killer.env }).map(([k, v]) => `${k}=${v}`),
    User: opts.user,
    ...(opts.signal ? { abortSignal: opts.signal } : {}),
  });
  const stream = await exec.start({ hijack: true, stdin: true, ...(opts.signal ? { abortSignal: opts.signal } : {}) });
  const stdout = opts.stdout ?? new CappedSink(outputCap);
  const stderr = new CappedSink(outputCap);
  (container.modem as { demuxStream(s: NodeJS.ReadableStream, o: Writable, e: Writable): void }).demuxStream(stream, stdout, stderr);
  let done = false;
  const ended = new Promise<void>((resolve) => {
    const end = () => { done = true; resolve(); };
    stream.on('end', end);
    stream.on('close', end);
    stream.on('error', end);
  });
  // The engine reports the process's PID only once it has started (an inspect right after the
  // start answers Pid 0): it is read when it is needed.
  const kill = async () => {
    for (let i = 0; i < 50; i++) {
      const info = await inspectExec(exec).catch(() => undefined);
      if (!info?.Running) return;
      if (info.Pid) return killer.kill(info.Pid);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return {
    get ended() { return done; },
    abandon: () => { stream.destroy(); },
    async finish(stdin, timeoutSeconds, signal) {
      const startedAt = new Date();
      let timedOut = false;
      let timer: NodeJS.Timeout | undefined;
      const arm = () => {
        timer ??= setTimeout(() => {
          timedOut = true;
          void kill();
        }, timeoutSeconds * 1000);
      };
      const onAbort = () => void kill();
      signal?.addEventListener('abort', onAbort, { once: true });
      // A process that never reads its stdin must not hold the answer: stdin is written as the
      // process takes it, and the write side is closed after, so it sees EOF.
      stream.on('error', () => undefined);
      const cut = () => {
        stream.destroy();
        arm();
      };
      if (done) {
        arm();
      } else if (Buffer.isBuffer(stdin)) {
        stream.end(stdin);
        arm();
      } else {
        // The timeout counts from the stream's end: a caller whose bytes come slowly (a subject's
        // upload over a slow link) is bounded by whoever feeds the stream (the API drops an upload
        // that stalls), not cut off by the process's own timeout while it still arrives.
        stdin.once('end', arm);
        stdin.once('error', cut);
        stdin.pipe(stream);
      }
      try {
        await ended;
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (!Buffer.isBuffer(stdin)) {
          stdin.off('end', arm);
          stdin.off('error', cut);
          stdin.unpipe(stream);
          // A process that ended before its stream did (a refusal) left this side open: the
          // engine has closed its own, and the connection would otherwise stay half-open.
          stream.destroy();
        }
      }
      const outcome = (exitCode: number | null) => ({
        exitCode,
        stdout: stdout.bytes(),
        stderr: stderr.bytes(),
        truncated: { stdout: stdout.truncated, stderr: stderr.truncated },
        timedOut,
        startedAt,
        durationMs: Date.now() - startedAt.getTime(),
      });
      if (!timedOut && opts.doneMarker !== undefined && stdout.bytes().equals(Buffer.from(opts.doneMarker))) {
        signal?.throwIfAborted();
        return outcome(0);
      }
      let info = await inspectExec(exec);
      // The stream ends when the process's output closes; the engine records its exit just after.
      for (let i = 0; info.Running && i < 50; i++) {
        await new Promise((r) => setTimeout(r, 20));
        info = await inspectExec(exec);
      }
      if (info.Running) {
        // Its output closed but it runs on (it closed its stdout itself): the answer is taken, and
        // nothing it started may outlive the call.
        await killer.kill(info.Pid);
      }
      signal?.throwIfAborted();
      return outcome(timedOut || info.Running ? null : info.ExitCode);
    },
  };
}

// Exit codes of the file scripts below, chosen clear of what busybox's own tools return.
const FILE_CODES: Record<number, [number, string, string]> = {
  70: [404, 'file_not_found', 'no such file'],
  71: [400, 'is_a_directory', 'is a directory'],
  72: [400, 'not_a_regular_file', 'is not a regular file (a FIFO, device or socket is never read or written)'],
  73: [403, 'permission_denied', 'permission denied'],
  74: [413, 'too_large', 'is larger than the 100 MiB a file transfer may move'],
  77: [409, 'file_transfer_failed', 'was not written: fewer bytes arrived than were sent'],
};

// Run with the container's own busybox (`sh`): the checks and the transfer are one process, so
// nothing can swap the file between them except the subject's own processes, which the caller is.
// The size comes from `stat` (the inode), not `wc -c`: busybox's wc reads the whole file, which
// doubled the time of a large read in a container limited to half a CPU (bench/access.ts: 50 MiB,
// ~0.85 s of wc before the ~0.6 s of cat). wc stays as the fallback for an image without stat.
const READ_SCRIPT = `p=$1
if [ -d "$p" ]; then exit 71; fi
if [ ! -e "$p" ]; then exit 70; fi
if [ ! -f "$p" ]; then exit 72; fi
if [ ! -r "$p" ]; then exit 73; fi
s=$(stat -L -c %s -- "$p" 2>/dev/null) || s=$(wc -c < "$p") || exit 73
if [ "$s" -gt "$2" ]; then exit 74; fi
exec cat -- "$p"`;

// Written beside the target and renamed over it: a write that fails half-way (no space left)
// leaves neither a partial file nor a filled file system behind. $2 is how many bytes are sent:
// the bytes come as the caller sends them, and a caller cut off mid-upload ends this stdin early
// (see OpenExec.finish), so a file of any other size is an upload cut short, never renamed in.
const WRITE_SCRIPT = `p=$1
if [ -d "$p" ]; then exit 71; fi
if [ -e "$p" ] && [ ! -f "$p" ]; then exit 72; fi
if [ -e "$p" ] && [ ! -w "$p" ]; then exit 73; fi
d=$(dirname -- "$p")
mkdir -p -- "$d" || exit 73
t="$d/.arbiter-upload.$$"
if ! cat > "$t"; then rm -f -- "$t"; exit 76; fi
s=$(stat -c %s -- "$t" 2>/dev/null) || s=$(wc -c < "$t") || s=-1
if ! [ "$s" -eq "$2" ] 2>/dev/null; then rm -f -- "$t"; exit 77; fi
mv -f -- "$t" "$p" || { rm -f -- "$t"; exit 73; }`;

function fileError(code: number | null, path: string, stderr: Buffer): AccessError {
  const known = code === null ? undefined : FILE_CODES[code];
  if (known) return new AccessError(known[0], known[1], `${path} ${known[2]}`);
  const text = stderr.toString('utf8');
  if (/No space left on device/i.test(text)) return new AccessError(413, 'too_large', `${path}: no space left on the container's file system`);
  if (/Read-only file system/i.test(text)) return new AccessError(403, 'permission_denied', `${path} is on a read-only file system`);
  if (/Permission denied/i.test(text)) return new AccessError(403, 'permission_denied', `${path}: permission denied`);
  return new AccessError(409, 'file_transfer_failed', `${path}: the transfer did not complete (exit ${code ?? 'none'}): ${text.slice(0, 200)}`);
}

export interface FileOptions { path: string; cwd: string; user: string; signal?: AbortSignal; runtime?: string | undefined }

/**
 * Reads the file into `into`, which takes at most the 100 MiB a transfer may move and says when
 * more came (the file grew between the size check and the copy: 413).
 */
export async function readContainerFile(container: Docker.Container, opts: FileOptions & { into: OutputSink }): Promise<void> {
  const r = await execInContainer(container, {
    cmd: ['/bin/sh', '-c', READ_SCRIPT, 'arbiter-read', opts.path, String(ACCESS_LIMITS.fileBytes)],
    stdin: Buffer.alloc(0), stdout: opts.into, cwd: opts.cwd, env: {}, user: opts.user, timeoutSeconds: 300, runtime: opts.runtime, ...(opts.signal ? { signal: opts.signal } : {}),
  });
  if (r.exitCode !== 0) throw fileError(r.exitCode, opts.path, r.stderr);
  if (r.truncated.stdout) throw new AccessError(413, 'too_large', `${opts.path} ${FILE_CODES[74]![2]}`);
}

/**
 * Writes `bytes`, or `length` bytes from `source` as they come, to the file. A source that fails
 * (its client went away) leaves the file as it was. The 300 s count from the source's end: how
 * long it may take to arrive is its feeder's to bound.
 */
export async function writeContainerFile(container: Docker.Container, opts: FileOptions & ({ bytes: Buffer } | { source: Readable; length: number })): Promise<void> {
  const stdin = 'bytes' in opts ? opts.bytes : opts.source;
  const length = 'bytes' in opts ? opts.bytes.length : opts.length;
  const r = await execInContainer(container, {
    cmd: ['/bin/sh', '-c', WRITE_SCRIPT, 'arbiter-write', opts.path, String(length)],
    stdin, cwd: opts.cwd, env: {}, user: opts.user, timeoutSeconds: 300, runtime: opts.runtime, ...(opts.signal ? { signal: opts.signal } : {}),
  }, 64 * 1024);
  if (r.exitCode !== 0) throw fileError(r.exitCode, opts.path, r.stderr);
}

export interface TtySession {
  stream: Duplex;
  resize(cols: number, rows: number): Promise<void>;
  /** the process's exit code once it has exited, else null */
  exitCode(): Promise<number | null>;
  /** kills the shell and everything it started */
  kill(): Promise<void>;
}

export async function openTty(container: Docker.Container, opts: { cmd: string[]; cwd: string; user: string; cols: number; rows: number; env?: Record<string, string>; runtime?: string | undefined }): Promise<TtySession> {
  const mark = opts.runtime === 'runsc' ? newMark('tty-') : undefined;
  const exec = await container.exec({
    Cmd: opts.cmd,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: true,
    WorkingDir: opts.cwd,
    User: opts.user,
    Env: Object.entries({ TERM: 'xterm-256color', ...opts.env, ...(mark ? { [EXEC_MARK_ENV]: mark } : {}) }).map(([k, v]) => `${k}=${v}`),
  });
  const stream = await exec.start({ hijack: true, stdin: true, Tty: true });
  const resize = async (cols: number, rows: number) => {
    try {
      await exec.resize({ h: rows, w: cols });
    } catch {
      // the process has already exited: nothing left to resize
    }
  };
  await resize(opts.cols, opts.rows);
  return {
    stream,
    resize,
    exitCode: async () => {
      const info = await inspectExec(exec);
      return info.Running ? null : info.ExitCode;
    },
    kill: async () => {
      const info = await inspectExec(exec).catch(() => undefined);
      if (info?.Running) {
        if (mark) await killMarked(container, mark, opts.user);
        else killGroup(info.Pid);
      }
      stream.destroy();
    },
  };
}
