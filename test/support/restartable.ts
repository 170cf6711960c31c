// Components the fault suite kills and restarts, each a real process it owns: a Docker engine of
// its own (so restarting it touches nobody else's containers), the Temporal dev server on a
// SQLite file (so workflows survive its restart), and the two Arbiter workers as they are deployed
// (`node --import tsx workers/<kind>.ts`). Plus a recorder of the engine's container events that
// keeps recording across engine restarts (the engine keeps events in memory only).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import Docker from 'dockerode';
import { Connection } from '@temporalio/client';
import { devServerFlags } from '../../scripts/dev-server.ts';
import { REPO, tools, waitFor } from './harness.ts';
import { powerLoss } from './engine-crash.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A child process with its output in a log file, and a promise of how it ended. */
export interface Proc {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  log: string;
  /** the last lines of its log, for a failure message */
  tail(): string;
}

function startProc(command: string, args: string[], opts: { log: string; env?: NodeJS.ProcessEnv; cwd?: string }): Proc {
  const fd = openSync(opts.log, 'a');
  const child = spawn(command, args, { cwd: opts.cwd ?? REPO, env: opts.env ?? process.env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    // Not startable at all (not installed): reported like an exit, with the reason in the log.
    child.once('error', (err) => {
      appendFileSync(opts.log, `could not start ${command}: ${err.message}\n`);
      resolve({ code: -1, signal: null });
    });
  });
  return { child, exited, log: opts.log, tail: () => readFileSync(opts.log, 'utf8').split('\n').slice(-30).join('\n') };
}

async function stopProc(p: Proc, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill(signal);
  return p.exited;
}

// ---- a private Docker engine ---------------------------------------------------------------------

export interface PrivateDockerd {
  socket: string;
  docker: Docker;
  proc: Proc;
  /** SIGTERM, wait for the engine to exit, start it again the same way, wait until it answers */
  restart(): Promise<void>;
  /** SIGKILL, as a crash: with live-restore its containers keep running under their shims */
  kill(): Promise<void>;
  /** after kill() or stop(): start it again the same way, wait until it answers */
  start(): Promise<void>;
  /** a host's power loss (test/support/engine-crash.ts), then the engine started again the same way */
  crash(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A dockerd started exactly like scripts/lib.sh `ensure_dockerd` starts the shared one (no bridge,
 * no iptables, no forwarding), but with its own socket, pidfile, exec root and data root. The data
 * root is kept between runs (`dataRoot`) so the template images are built once, not every run.
 */
export async function startPrivateDockerd(opts: { dir: string; dataRoot: string; liveRestore?: boolean }): Promise<PrivateDockerd> {
  const socket = join(opts.dir, 'docker.sock');
  mkdirSync(opts.dataRoot, { recursive: true });
  // A config file of its own (without one, dockerd reads /etc/docker/daemon.json, the shared
  // engine's), with live-restore as the bootstrap's and the cluster's engines run: an engine
  // restart leaves running containers running (README "Engines with live-restore").
  const configFile = join(opts.dir, 'daemon.json');
  writeFileSync(configFile, JSON.stringify({ 'live-restore': opts.liveRestore ?? true }) + '\n');
  const args = [
    '--config-file', configFile,
    '--bridge=none', '--iptables=false', '--ip-forward=false',
    '--host', `unix://${socket}`, '--pidfile', join(opts.dir, 'docker.pid'),
    '--exec-root', join(opts.dir, 'exec'), '--data-root', opts.dataRoot,
  ];
  const docker = new Docker({ socketPath: socket });
  const start = async () => {
    const proc = startProc('dockerd', args, { log: join(opts.dir, 'dockerd.log') });
    let ended: unknown;
    void proc.exited.then((e) => { ended = e; });
    await waitFor('the private dockerd to answer', async () => {
      if (ended) throw new Error(`dockerd ended ${JSON.stringify(ended)} (it needs root): ${proc.tail()}`);
      return (await docker.ping()) ? true : undefined;
    }, 60_000);
    return proc;
  };
  const engine: PrivateDockerd = {
    socket,
    docker,
    proc: await start(),
    async restart() {
      const ended = await stopProc(engine.proc, 'SIGTERM');
      if (ended.code !== 0) throw new Error(`dockerd did not stop cleanly (${JSON.stringify(ended)}): ${engine.proc.tail()}`);
      engine.proc = await start();
    },
    async kill() {
      const containerdPid = Number(readFileSync(join(opts.dir, 'exec', 'containerd', 'containerd.pid'), 'utf8').trim());
      const ended = await stopProc(engine.proc, 'SIGKILL');
      if (ended.signal !== 'SIGKILL') throw new Error(`dockerd had already exited (${JSON.stringify(ended)}): ${engine.proc.tail()}`);
      // Its containerd dies with it (dockerd starts it with a parent-death signal); the shims stay.
      // Until it is gone, a dockerd started again takes it for alive, waits for its socket and gives up.
      await waitFor(`dockerd's containerd (pid ${containerdPid}) to end with it`, async () => {
        try {
          process.kill(containerdPid, 0);
          return undefined;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ESRCH') return true;
          throw err;
        }
      }, 30_000);
    },
    async start() {
      if (engine.proc.child.exitCode === null && engine.proc.child.signalCode === null) throw new Error('dockerd is running already');
      engine.proc = await start();
    },
    async crash() {
      await powerLoss(docker, engine.proc.child.pid!, join(opts.dir, 'exec'));
      await engine.proc.exited;
      engine.proc = await start();
    },
    async stop() {
      await stopProc(engine.proc, 'SIGTERM');
      unmountDataRoot(opts.dataRoot);
    },
  };
  return engine;
}

/**
 * dockerd bind-mounts its data root on itself and undoes it when it stops, except after a restart
 * under running containers (live-restore: the next engine finds the mount made and leaves it), so
 * the last stop of the engine undoes it here; the folder can be removed again. Best effort: a
 * container left in it keeps it busy, and the mount stays.
 */
function unmountDataRoot(dataRoot: string): void {
  const mounted = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((line) => line.split(' ')[4] === dataRoot);
  if (mounted) spawnSync('umount', [dataRoot], { stdio: 'ignore' });
}

// ---- the Temporal dev server on a file database -------------------------------------------------

export interface DevServer {
  address: string;
  proc: Proc;
  /** SIGTERM, wait for it to exit, start it again on the same port and database file */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startDevServer(opts: { dir: string }): Promise<DevServer> {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const args = [
    'server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(port),
    '--db-filename', join(opts.dir, 'temporal.db'), '--log-level', 'error', ...devServerFlags(),
  ];
  const start = async () => {
    const proc = startProc(tools().TEMPORAL_BIN, args, { log: join(opts.dir, 'temporal.log') });
    let ended: unknown;
    void proc.exited.then((e) => { ended = e; });
    await waitFor('the Temporal dev server to answer', async () => {
      if (ended) throw new Error(`temporal ended ${JSON.stringify(ended)}: ${proc.tail()}`);
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      try {
        await connection.workflowService.describeNamespace({ namespace: 'default' });
        return true;
      } finally {
        await connection.close();
      }
    }, 60_000);
    return proc;
  };
  const server: DevServer = {
    address,
    proc: await start(),
    async restart() {
      await stopProc(server.proc, 'SIGTERM');
      server.proc = await start();
    },
    async stop() {
      await stopProc(server.proc, 'SIGTERM');
    },
  };
  return server;
}

// ---- the workers, as deployed ------------------------------------------------------------------

export type WorkerKind = 'main' | 'container';

export interface WorkerProcess extends Proc {
  kind: WorkerKind;
  /** SIGKILL: no graceful shutdown, whatever it was doing is cut off */
  kill(): Promise<void>;
}

/** `node --import tsx workers/<kind>.ts` with the given environment (plus PATH and HOME), logging to <logDir>/<name>.log. */
export function startWorker(kind: WorkerKind, env: Record<string, string>, logDir: string, name: string = kind): WorkerProcess {
  const proc = startProc(process.execPath, ['--import', 'tsx', join(REPO, 'workers', `${kind}.ts`)], {
    log: join(logDir, `${name}.log`),
    // No warm pool unless the test asks for one (ARBITER_POOLS): its entries would be created in
    // the test's engine beside the containers it counts.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ARBITER_POOLS: 'none', ...env },
  });
  return {
    ...proc,
    kind,
    async kill() {
      const ended = await stopProc(proc, 'SIGKILL');
      if (ended.signal !== 'SIGKILL') throw new Error(`the ${kind} worker had already exited (${JSON.stringify(ended)}): ${proc.tail()}`);
    },
  };
}

// ---- the engine's container events, recorded across engine restarts ----------------------------

export interface EngineEvent { id: string; action: string; time: number; timeNano: number; attributes: Record<string, string> }

export interface EventRecorder {
  events: EngineEvent[];
  /** calls back on each new event (for kill triggers); returns the unsubscribe */
  on(listener: (e: EngineEvent) => void): () => void;
  stop(): void;
}

/**
 * Follows the engine's container events. When the stream ends (the engine stopped) it reconnects
 * as soon as the engine answers again, asking for everything since the last event it saw, so the
 * record has no gap; events are deduplicated by id, action and time.
 */
export function recordEngineEvents(docker: Docker, filters: { label?: string[]; event?: string[] }): EventRecorder {
  const events: EngineEvent[] = [];
  const seen = new Set<string>();
  const listeners = new Set<(e: EngineEvent) => void>();
  let stopped = false;
  let stream: Readable | undefined;
  let since = Math.floor(Date.now() / 1000) - 1;

  const follow = async (): Promise<void> => {
    while (!stopped) {
      try {
        stream = (await docker.getEvents({ since, filters: { type: ['container'], ...filters } })) as unknown as Readable;
      } catch {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      let buffered = '';
      await new Promise<void>((resolve) => {
        stream!.on('data', (chunk: Buffer) => {
          buffered += chunk.toString('utf8');
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (!line) continue;
            const raw = JSON.parse(line) as { id: string; Action: string; time: number; timeNano: number; Actor: { Attributes: Record<string, string> } };
            const key = `${raw.id}:${raw.Action}:${raw.timeNano}`;
            if (seen.has(key)) continue;
            seen.add(key);
            const e = { id: raw.id, action: raw.Action, time: raw.time, timeNano: raw.timeNano, attributes: raw.Actor.Attributes };
            since = Math.max(since, raw.time);
            events.push(e);
            for (const l of listeners) l(e);
          }
        });
        stream!.once('end', () => resolve());
        stream!.once('close', () => resolve());
        stream!.once('error', () => resolve());
      });
    }
  };
  void follow();
  return {
    events,
    on(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stop() {
      stopped = true;
      stream?.destroy();
    },
  };
}
