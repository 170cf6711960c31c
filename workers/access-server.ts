// The container host's access server: the API relays a subject's exec, file transfer and terminal
// here, the way Kubernetes' API server relays `exec` to the kubelet of the node. Only this host
// holds its Docker socket; the API reaches it over a Unix socket (one machine) or a TCP address
// (ARBITER_HOST_ACCESS), and every request carries a relay token the API signed for exactly this
// host, scenario, actor and kind of access, so a caller that reaches the socket without the API's
// secret can do nothing. Each interaction is appended to the scenario's transcript (fsync'd)
// before it is answered.
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { dirname, join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import websocket from '@fastify/websocket';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { bearer, verifyToken, type ClaimsOf } from '../infra/tokens.ts';
import type { SecretRing } from '../infra/config.ts';
import { AccessError, ACCESS_LIMITS, execInContainer, killGroup, killMarked, openTty, readContainerFile, TERMINAL_MARKS, writeContainerFile, type FileOptions, type TtySession } from '../infra/container-access.ts';
import { AccessRegistry, type ScenarioAccess } from '../infra/access-registry.ts';
import { closeIfUnread, cutIfUntaken, UploadStream } from '../infra/upload-stream.ts';
import { PACE_BYTES, pacedSender, pacedWriter } from '../infra/ws-pacing.ts';
import { SpoolSink } from '../infra/spool-sink.ts';
import type { StreamedBytes } from '../infra/transcript-log.ts';
import { LABELS, scenarioContainerName } from '../activities/container-spec.ts';
import { canonicalJson, sha256Hex } from '../lib/canonical-json.ts';
import type { ExecData, FileData, TerminalData } from '../lib/transcript.ts';
import type { AuditEntry } from '../lib/audit-chain.ts';
import { UnauthorizedError } from '../lib/errors.ts';

/** What a terminal session runs; the only TTY exec this host starts, which is how its orphans are known. */
const TERMINAL_SHELL = ['/bin/sh', '-l'];
/** A terminal recording stops growing here; the entry says it was cut. */
export const TERMINAL_RECORD_CAP_BYTES = 16 * 1024 * 1024;

type RelayClaims = ClaimsOf<'relay'>;

export interface AccessServerOptions {
  docker: Docker;
  registry: AccessRegistry;
  hostId: string;
  relaySecret: SecretRing;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
  /**
   * A file transfer that makes no progress for this long is cut short (config.access.idleSeconds,
   * the API's too): an upload with nothing written, an answer its reader stopped taking by closing
   * its connection. The API cuts first; this host does not count on it, or a stalled caller would
   * hold a call's slot, the container's write or a spooled file for as long as it kept the socket.
   */
  transferIdleMs: number;
}

function notRunning(): AccessError {
  return new AccessError(409, 'not_running', 'the scenario is not running');
}

/** Resolves a path the way the contract says: absolute, or relative to the service's workdir. */
export function resolveIn(workdir: string, path: string): string {
  return posix.resolve(workdir || '/', path);
}

/**
 * Runs one file transfer and appends its entry, refused or not, before anything is answered: a
 * refusal (not found, permission denied …) is an interaction too. `content`: the bytes read, or
 * those the caller sent to be written, kept even when the write was refused.
 */
async function recordFileCall(s: ScenarioAccess, claims: RelayClaims, event: 'file.read' | 'file.write', path: string, signal: AbortSignal, transfer: () => Promise<unknown>, content: () => Buffer | StreamedBytes): Promise<AuditEntry> {
  let outcome = 'ok';
  let failure: AccessError | undefined;
  try {
    await transfer();
  } catch (err) {
    if (signal.aborted) throw notRunning();
    if (!(err instanceof AccessError)) throw err;
    outcome = err.code;
    failure = err;
  }
  const data: Omit<FileData, 'content'> = { service: claims.svc, path, user: claims.user, outcome };
  const bytes = content();
  const entry = await s.log.append({ event, actor: claims.sub, time: new Date(), data: { ...data }, capBytes: claims.rec, streams: [Buffer.isBuffer(bytes) ? { name: 'content', bytes } : { name: 'content', digest: bytes }] });
  if (failure) throw failure;
  return entry;
}

export async function buildAccessServer(opts: AccessServerOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: ACCESS_LIMITS.fileBytes + 1024 * 1024 });
  await app.register(websocket, { options: { maxPayload: 1024 * 1024 } });

  async function authorize(request: FastifyRequest, kind: RelayClaims['act']): Promise<RelayClaims> {
    const token = bearer(request.headers.authorization);
    if (!token) throw new UnauthorizedError('a relay token is required', 'token_missing');
    const { claims } = await verifyToken('relay', token, opts.relaySecret);
    const { id } = request.params as { id: string };
    if (claims.scn !== id || claims.host !== opts.hostId || claims.act !== kind) {
      throw new UnauthorizedError('the relay token is for another scenario, host or kind of access', 'token_invalid');
    }
    return claims;
  }

  /** The scenario's container, running; its working directory for relative paths. */
  async function runningContainer(scenarioId: string, claims: RelayClaims): Promise<{ container: Docker.Container; workdir: string; runtime: string | undefined }> {
    // The API names the service's container; only one of this scenario's may be named (the main
    // one's name is the scenario's, the others' extend it), so a relay token never reaches beyond.
    const main = scenarioContainerName(scenarioId);
    const name = claims.ctr ?? main;
    if (name !== main && !name.startsWith(`${main}-svc-`)) throw new AccessError(400, 'unknown_service', `container ${name} is not one of scenario ${scenarioId}'s services`);
    const container = opts.docker.getContainer(name);
    let info: Docker.ContainerInspectInfo;
    try {
      info = await container.inspect();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) throw notRunning();
      throw err;
    }
    if (!info.State.Running) throw notRunning();
    return { container, workdir: info.Config.WorkingDir || '/', runtime: info.HostConfig.Runtime };
  }

  function open(scenarioId: string): ScenarioAccess {
    const s = opts.registry.of(scenarioId);
    if (s.log.isClosed()) throw notRunning();
    // Past this many calls on one scenario, answers included, a burst cannot starve the others.
    if (s.inflight.size >= ACCESS_LIMITS.callsInFlight) throw new AccessError(429, 'too_many_requests', `at most ${ACCESS_LIMITS.callsInFlight} calls at once per scenario`);
    return s;
  }

  const idleMs = opts.transferIdleMs;
  app.addHook('onSend', cutIfUntaken(idleMs));

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, request, reply) => {
    if (err instanceof AccessError) return reply.status(err.status).send({ error: { code: err.code, message: err.message } });
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) opts.log.error({ err, url: request.url }, 'access request failed');
    return reply.status(status).send({ error: { code: status === 500 ? 'internal' : (err.code ?? 'bad_request'), message: err.message } });
  });

  app.post('/v1/scenarios/:id/exec', async (request: FastifyRequest<{ Params: { id: string }; Body: ExecBody }>, reply: FastifyReply) => {
    const claims = await authorize(request, 'exec');
    const s = open(request.params.id);
    const body = request.body;
    const { container, workdir, runtime } = await runningContainer(request.params.id, claims);
    const cwd = resolveIn(workdir, body.cwd ?? '.');
    const stdin = Buffer.from(body.input ?? '', 'base64');
    const timeoutSeconds = body.timeoutSeconds ?? ACCESS_LIMITS.defaultTimeoutSeconds;
    return opts.registry.track(s, async (signal) => {
      let r;
      try {
        r = await execInContainer(container, { cmd: body.cmd, stdin, cwd, env: body.env ?? {}, user: claims.user, timeoutSeconds, signal, runtime });
      } catch (err) {
        if (signal.aborted) throw notRunning();
        // The container went away under the call: the scenario ended.
        if ((err as { statusCode?: number }).statusCode === 404 || (err as { statusCode?: number }).statusCode === 409) throw notRunning();
        // No such executable, or a cwd that is not a directory: the engine refuses the exec itself.
        if ((err as { statusCode?: number }).statusCode === 500 || (err as { statusCode?: number }).statusCode === 400) {
          throw new AccessError(400, 'exec_refused', `the command could not be started: ${(err as Error).message.slice(0, 300)}`);
        }
        throw err;
      }
      const data: Omit<ExecData, 'stdin' | 'stdout' | 'stderr'> = {
        service: claims.svc,
        cmd: body.cmd,
        cwd,
        user: claims.user,
        env: Object.keys(body.env ?? {}).sort(),
        envSha256: sha256OfEnv(body.env ?? {}),
        timeoutSeconds,
        exitCode: r.exitCode,
        timedOut: r.timedOut,
        truncated: r.truncated,
        startedAt: r.startedAt.toISOString(),
        durationMs: r.durationMs,
      };
      // The runtime could not start it (no such program, cwd not a directory): the runtime says so
      // on the output and exits 126 or 127 without the program ever running.
      const refused = (r.exitCode === 126 || r.exitCode === 127) && /OCI runtime exec failed|exec failed:/.test(r.stdout.toString('utf8', 0, 4096) + r.stderr.toString('utf8', 0, 4096));
      const entry = await s.log.append({
        event: 'exec', actor: claims.sub, time: new Date(), data: { ...data }, capBytes: claims.rec,
        streams: [{ name: 'stdin', bytes: stdin }, { name: 'stdout', bytes: r.stdout }, { name: 'stderr', bytes: r.stderr }],
      });
      if (refused) throw new AccessError(400, 'exec_refused', `the command could not be started (entry ${entry.seq}): ${(r.stdout.toString('utf8', 0, 300) + r.stderr.toString('utf8', 0, 300)).trim()}`);
      return {
        exitCode: r.exitCode, stdout: r.stdout.toString('base64'), stderr: r.stderr.toString('base64'),
        truncated: r.truncated, timedOut: r.timedOut, durationMs: r.durationMs, seq: entry.seq,
      };
    }, reply.raw);
  });

  app.get('/v1/scenarios/:id/files', async (request: FastifyRequest<{ Params: { id: string }; Querystring: { path: string } }>, reply: FastifyReply) => {
    const claims = await authorize(request, 'files');
    const s = open(request.params.id);
    const { container, workdir, runtime } = await runningContainer(request.params.id, claims);
    const path = resolveIn(workdir, request.query.path);
    await opts.registry.track(s, async (signal) => {
      // The file waits for its entry to be appended: in memory if it is small, on this host's disk if not.
      const spool = new SpoolSink(join(s.log.dir, SPOOL_DIR, randomUUID()), { cap: ACCESS_LIMITS.fileBytes, record: { keepBytes: claims.rec }, memoryBytes: SPOOL_MEMORY_BYTES });
      let read = false;
      let answer: Buffer | Readable | undefined;
      try {
        const entry = await recordFileCall(s, claims, 'file.read', path, signal, async () => {
          await readContainerFile(container, { path, cwd: workdir, user: claims.user, signal, runtime, into: spool });
          read = true;
        }, () => (read ? spool.digest() : Buffer.alloc(0)));
        answer = spool.answer();
        void reply.header('content-type', 'application/octet-stream').header('content-length', String(spool.size)).header('x-arbiter-seq', String(entry.seq)).send(answer);
      } finally {
        if (!answer) spool.discard();
      }
    }, reply.raw);
    // Not the reply itself from the call's work: a reply sending a stream is a promise of that
    // stream's end, which the scenario's close would then wait for, however slow its reader. The
    // answer's end frees the call's slot (track).
    return reply;
  });

  // An upload goes into the container as it arrives: this process holds its first bytes (those
  // the transcript keeps), never the whole file. One sent without a length is first spooled to
  // this host's disk, since the container's write only knows an upload was whole by its length.
  await app.register(async (files) => {
    files.addContentTypeParser('application/octet-stream', (request, payload, done) => {
      if (Number(request.headers['content-length']) > ACCESS_LIMITS.fileBytes) return done(new AccessError(413, 'payload_too_large', `the file is larger than ${ACCESS_LIMITS.fileBytes} bytes`), undefined);
      done(null, payload);
    });
    files.addHook('onSend', closeIfUnread);

    files.put('/v1/scenarios/:id/files', async (request: FastifyRequest<{ Params: { id: string }; Querystring: { path: string } }>, reply: FastifyReply) => {
      const claims = await authorize(request, 'files');
      const s = open(request.params.id);
      const { container, workdir, runtime } = await runningContainer(request.params.id, claims);
      const path = resolveIn(workdir, request.query.path);
      // Read already by a parser of another type: nothing is left to pass on.
      if (request.body !== undefined && request.body !== request.raw) throw new AccessError(415, 'unsupported_media_type', 'send the file\'s bytes as application/octet-stream');
      const declared = request.headers['content-length'] === undefined ? undefined : Number(request.headers['content-length']);
      const upload = new UploadStream(request.raw, { limit: ACCESS_LIMITS.fileBytes, record: { keepBytes: claims.rec }, idleMs });
      await opts.registry.track(s, async (signal) => {
        const file: FileOptions = { path, cwd: workdir, user: claims.user, signal, runtime };
        const write = declared === undefined
          ? () => spooled(upload, join(s.log.dir, SPOOL_DIR, randomUUID()), (stdin) => writeContainerFile(container, { ...file, ...stdin }))
          : () => writeContainerFile(container, { ...file, source: upload, length: declared });
        const entry = await recordFileCall(s, claims, 'file.write', path, signal, async () => {
          const failure = await write().then(() => undefined, (err: unknown) => (err instanceof Error ? err : new Error(String(err))));
          // Cut short by its client (or past the limit): nothing was written, and nothing happened to record.
          if (upload.errored) throw upload.errored;
          if (failure === undefined) return;
          // Refused (no permission, no space …): recorded with every byte the caller sent.
          if (failure instanceof AccessError) await upload.drain();
          throw failure;
        }, () => upload.digest());
        void reply.status(204).header('x-arbiter-seq', String(entry.seq)).send();
      }, reply.raw);
      return reply;
    });
  });

  app.get('/v1/scenarios/:id/terminal', { websocket: true }, (socket: WebSocket, request: FastifyRequest<{ Params: { id: string }; Querystring: { cols?: string; rows?: string } }>) => {
    // ws hands a frame to whoever listens when it arrives and drops it when nobody does. The API
    // forwards keystrokes as soon as this socket opens (a subject types before the prompt shows),
    // while the token check and the TTY's start below are still under way: without a listener
    // from the first moment those keystrokes were lost (measured: "echo hi" typed at once never
    // reached the shell), and a close in that window went unseen, leaving the shell running.
    const early: Early = { frames: [], closed: false };
    let earlyBytes = 0;
    const hold = (data: Buffer, isBinary: boolean) => {
      early.frames.push([data, isBinary]);
      earlyBytes += data.length;
      // Past PACE_BYTES the API waits (and the subject behind it) until the session is ready; nothing is dropped.
      if (earlyBytes > PACE_BYTES) socket.pause();
    };
    socket.on('message', hold);
    socket.once('close', () => { early.closed = true; });
    early.release = () => socket.off('message', hold);
    void terminal(socket, request, early).catch((err: unknown) => {
      const code = err instanceof AccessError ? ({ 409: 4409, 429: 4429, 403: 4403 } as Record<number, number>)[err.status] ?? 4500 : err instanceof UnauthorizedError ? 4401 : 4500;
      if (code === 4500) opts.log.error({ err }, 'terminal failed');
      socket.close(code, (err as Error).message.slice(0, 120));
    });
  });

  async function terminal(socket: WebSocket, request: FastifyRequest<{ Params: { id: string }; Querystring: { cols?: string; rows?: string } }>, early: Early): Promise<void> {
    const claims = await authorize(request, 'terminal');
    const s = opts.registry.of(request.params.id);
    if (s.log.isClosed()) throw notRunning();
    if (s.terminals.size >= claims.max) throw new AccessError(429, 'too_many_sessions', `at most ${claims.max} terminal session(s) at once`);
    const { container, workdir, runtime } = await runningContainer(request.params.id, claims);
    const cols = clampDim(request.query.cols, 80);
    const rows = clampDim(request.query.rows, 24);
    const startedAt = new Date();
    const name = `terminal-${startedAt.getTime()}-${Math.random().toString(36).slice(2, 10)}.cast`;
    const { relative, absolute } = s.log.recordingPath(name);
    mkdirSync(dirname(absolute), { recursive: true });
    const fd = openSync(absolute, 'a', 0o644);
    let recorded = 0;
    let cut = false;
    // Closed at the session's end; what still comes from the client then (a keystroke, a resize
    // in flight) is not recorded: the descriptor's number may already belong to another file.
    let closed = false;
    const record = (line: string) => {
      if (cut || closed) return;
      const b = Buffer.from(line + '\n', 'utf8');
      if (recorded + b.length > TERMINAL_RECORD_CAP_BYTES) {
        cut = true;
        return;
      }
      writeSync(fd, b);
      recorded += b.length;
    };
    const shell = TERMINAL_SHELL;
    record(canonicalJson({ version: 2, width: cols, height: rows, timestamp: Math.floor(startedAt.getTime() / 1000), env: { SHELL: shell[0], TERM: 'xterm-256color', USER: claims.user }, title: `${request.params.id} ${claims.sub}` }));
    const since = () => Number(((Date.now() - startedAt.getTime()) / 1000).toFixed(6));
    let tty: TtySession;
    try {
      tty = await openTty(container, { cmd: shell, cwd: workdir, user: claims.user, cols, rows, runtime });
    } catch (err) {
      closeSync(fd);
      rmSync(absolute, { force: true });
      throw err;
    }
    if (s.log.isClosed()) {
      // The scenario's access was closed while the shell started: the transcript is already in
      // the evidence, so this shell serves nobody. (Its recording, if the close sealed it, stays.)
      await tty.kill();
      closeSync(fd);
      throw notRunning();
    }
    const out = new StringDecoder('utf8');
    const inp = new StringDecoder('utf8');
    let ending: Promise<void> | undefined;
    // The session's part in the scenario's in-flight work is over once its end is: however it
    // ended. A session ended by the scenario's close sees no stream end (its stream is destroyed)
    // and must not wait on its client's side of the socket's closing handshake either.
    let ended: () => void = () => undefined;
    const session = {
      end: (reason: string): Promise<void> => {
        ending ??= (async () => {
          await tty.kill();
          const exitCode = await tty.exitCode().catch(() => null);
          const rest = out.end();
          if (rest) record(JSON.stringify([since(), 'o', rest]));
          fsyncSync(fd);
          closed = true;
          closeSync(fd);
          s.terminals.delete(session);
          const data: Omit<TerminalData, 'recording'> = {
            service: claims.svc, user: claims.user, startedAt: startedAt.toISOString(), durationMs: Date.now() - startedAt.getTime(), exitCode, ended: reason,
          };
          await s.log.append({ event: 'terminal', actor: claims.sub, time: new Date(), data: { ...data, recordingCut: cut }, capBytes: 0, streams: [{ name: 'recording', bytes: readFileSync(absolute), recording: relative }] });
          if (socket.readyState === socket.OPEN) {
            if (reason === 'exited') socket.send(JSON.stringify({ exit: exitCode }));
            socket.close(reason === 'scenario_ended' ? 4409 : 1000, reason);
          }
        })().finally(() => ended());
        return ending;
      },
    };
    s.terminals.add(session);
    // An end that fails (its transcript entry could not be written) is the scenario's close's to
    // report when the close asked for it; when the shell or the client ended it, it is logged.
    const endOn = (reason: string) => void session.end(reason).catch((err: unknown) => opts.log.error({ err, scenarioId: request.params.id }, 'terminal session did not end cleanly'));
    const tracked = opts.registry.track(s, () => new Promise<void>((resolve) => {
      ended = resolve;
      // At the pace of the reader at the far end, and of the program in the container (infra/ws-pacing.ts).
      const toClient = pacedSender(socket, tty.stream);
      const toTty = pacedWriter(tty.stream, socket);
      tty.stream.on('data', (chunk: Buffer) => {
        record(JSON.stringify([since(), 'o', out.write(chunk)]));
        toClient(chunk, true);
      });
      tty.stream.on('end', () => endOn('exited'));
      tty.stream.on('error', () => endOn('exited'));
      socket.on('close', () => endOn('client_closed'));
      const onMessage = (data: Buffer, isBinary: boolean) => {
        if (isBinary) {
          record(JSON.stringify([since(), 'i', inp.write(data)]));
          toTty(data);
          return;
        }
        let msg: { resize?: { cols?: unknown; rows?: unknown } };
        try {
          msg = JSON.parse(data.toString('utf8')) as typeof msg;
        } catch {
          return;
        }
        if (msg.resize) {
          const c = clampDim(msg.resize.cols, cols);
          const r = clampDim(msg.resize.rows, rows);
          record(JSON.stringify([since(), 'r', `${c}x${r}`]));
          void tty.resize(c, r);
        }
      };
      // What came while the session opened goes first, in order, then everything else as it comes.
      early.release?.();
      // Resumed before what it held goes on, which may pause it again (the TTY's pace).
      socket.resume();
      for (const [data, isBinary] of early.frames.splice(0)) onMessage(data, isBinary);
      socket.on('message', onMessage);
      if (early.closed || socket.readyState !== socket.OPEN) endOn('client_closed');
    }));
    await tracked;
  }

  return app;
}

/** Under a scenario's transcript folder; never referenced by an entry, so never copied into its evidence. */
const SPOOL_DIR = 'spool';
/**
 * A read (or an upload without a length) up to this size waits in memory, a larger one on disk:
 * 16 calls in flight hold at most 64 MiB of one scenario's files. (A 1 MiB read spooled to disk
 * answered about 10 ms later in bench/access.ts.)
 */
const SPOOL_MEMORY_BYTES = 4 * 1024 * 1024;

/**
 * Holds an upload sent without a length until it is whole (on disk at `file` past a few MiB), then
 * hands `write` its bytes, or a stream of them and its length: the container's write needs the
 * length to tell a whole upload from one cut short.
 */
async function spooled(upload: UploadStream, file: string, write: (stdin: { bytes: Buffer } | { source: Readable; length: number }) => Promise<void>): Promise<void> {
  const spool = new SpoolSink(file, { cap: ACCESS_LIMITS.fileBytes, memoryBytes: SPOOL_MEMORY_BYTES });
  let answer: Buffer | Readable | undefined;
  try {
    await pipeline(upload, spool);
    answer = spool.answer();
    await write(Buffer.isBuffer(answer) ? { bytes: answer } : { source: answer, length: spool.size });
  } finally {
    if (answer === undefined) spool.discard();
    else if (!Buffer.isBuffer(answer)) answer.destroy();
  }
}

/** A terminal socket's frames and close from before its session was ready to take them. */
interface Early { frames: Array<[Buffer, boolean]>; closed: boolean; release?: () => void }

interface ExecBody {
  cmd: string[];
  /** base64 */
  input?: string;
  cwd?: string;
  env?: Record<string, string>;
  timeoutSeconds?: number;
}

function clampDim(v: unknown, fallback: number): number {
  const n = typeof v === 'string' ? Number(v) : typeof v === 'number' ? v : NaN;
  return Number.isInteger(n) && n >= 1 && n <= 1000 ? n : fallback;
}

function sha256OfEnv(env: Record<string, string>): string {
  return sha256Hex(canonicalJson(env));
}

/**
 * Kills the terminal shells a predecessor of this host left running in its scenarios' containers.
 * A host that dies (SIGKILL, OOM, a crash) cannot end its sessions, and the engine keeps a TTY
 * exec running when its attach connection drops (measured: the `sh -l` of a session cut off by a
 * SIGKILL was still there after the restart). Nobody can reach that shell any more, and nothing it
 * did from then on would be recorded; its recording is sealed ("host_restarted") when the
 * scenario's evidence is collected (TranscriptLog.sealOrphans). Called before this host serves
 * access, so every TTY exec it finds running is one it did not start.
 */
export async function endOrphanTerminals(docker: Docker, hostId: string, log: Pick<Logger, 'info' | 'warn'>): Promise<number> {
  let ended = 0;
  const containers = await docker.listContainers({ filters: { label: [`${LABELS.host}=${hostId}`, `${LABELS.role}=scenario`], status: ['running'] } });
  for (const c of containers) {
    const info = await docker.getContainer(c.Id).inspect().catch(() => undefined);
    const users = new Set<string>();
    for (const execId of info?.ExecIDs ?? []) {
      const e = await docker.getExec(execId).inspect().catch(() => undefined);
      const p = e?.ProcessConfig;
      if (!e?.Running || !p?.tty || p.entrypoint !== TERMINAL_SHELL[0] || p.arguments.join(' ') !== TERMINAL_SHELL.slice(1).join(' ')) continue;
      // Under gVisor the engine's PID is not the shell's: every session's mark finds it inside.
      if (info!.HostConfig.Runtime === 'runsc') users.add(p.user);
      else killGroup(e.Pid);
      ended++;
      log.info({ container: c.Names[0], execId }, 'ended a terminal shell left by a previous run of this host');
    }
    for (const user of users) await killMarked(docker.getContainer(c.Id), TERMINAL_MARKS, user);
  }
  return ended;
}

export interface AccessListener { address: string; close(): Promise<void> }

/** `unix:<path>` or `<host>:<port>` (loopback unless configured otherwise). */
export async function listenAccessServer(app: FastifyInstance, listen: string): Promise<AccessListener> {
  if (listen.startsWith('unix:')) {
    const path = listen.slice('unix:'.length);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // A socket left by a process that died is in the way; a live one would be a second worker
    // for the same host id, which the listen below then reports.
    if (existsSync(path)) rmSync(path, { force: true });
    await app.listen({ path });
    // Only this host's own user (root, who also holds its Docker socket) may connect.
    chmodSync(path, 0o600);
    return { address: listen, close: () => app.close() };
  }
  const i = listen.lastIndexOf(':');
  const address = await app.listen({ host: listen.slice(0, i), port: Number(listen.slice(i + 1)) });
  return { address, close: () => app.close() };
}
