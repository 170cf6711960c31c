// Child processes the bench starts (the Temporal dev server, the workers, the API): each writes
// to its own log file and is stopped by the runner, gracefully first, and killed when the runner
// itself dies so nothing outlives it.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';

export interface Child {
  name: string;
  proc: ChildProcess;
  log: string;
  exited: Promise<number | null>;
}

const live = new Set<Child>();
let exitHookInstalled = false;

/** Whatever is still running when the runner's process exits, for any reason, is killed. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of live) c.proc.kill('SIGKILL');
  });
}

export function startChild(name: string, command: string, args: string[], opts: { env: NodeJS.ProcessEnv; cwd: string; log: string }): Child {
  installExitHook();
  const fd = openSync(opts.log, 'a');
  const proc = spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => { live.delete(child); resolve(code); }));
  const child: Child = { name, proc, log: opts.log, exited };
  live.add(child);
  return child;
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stopChild(c: Child, graceMs = 15_000): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  c.proc.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => { c.proc.kill('SIGKILL'); resolve(); }, graceMs);
  });
  await Promise.race([c.exited.then(() => undefined), killed]);
  clearTimeout(timer);
  await c.exited;
}

/** The resident set of a process in bytes (VmRSS; VmHWM: its peak so far), or undefined once it is gone. */
export function rssBytes(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
    return line ? Number(line.replace(/\D+/g, '')) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Resets a process's peak resident set (VmHWM) to its resident set now (Linux ≥ 4.0, as root or
 * its owner): a peak read after that belongs to what ran in between. False when it could not.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** CPU time (user + system) a process has used so far, in seconds, or undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may itself hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}
/**
 * CPU time of a process and its children: its own, its exited children's (reaped: cutime and
 * cstime) and its live children's. A child that exits between two readings moves from the last
 * sum to the second, so differences stay right.
 */
export function treeCpuSeconds(pid: number): number | undefined {
  const fieldsOf = (p: number | string): string[] | undefined => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    } catch {
      return undefined;
    }
  };
  const root = fieldsOf(pid);
  if (!root) return undefined;
  let total = (Number(root[11]) + Number(root[12]) + Number(root[13]) + Number(root[14])) / CLOCK_TICKS;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const f = fieldsOf(d);
    if (f && Number(f[1]) === pid) total += (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
  }
  return total;
}

// USER_HZ: 100 on every Linux this runs on (getconf CLK_TCK).
const CLOCK_TICKS = 100;

/** A TCP port free on 127.0.0.1 right now (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Polls a readiness probe (a condition, not a fixed sleep) until it holds or the child dies. */
export async function until(what: string, probe: () => Promise<boolean>, opts: { timeoutMs: number; child?: Child }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (opts.child && (opts.child.proc.exitCode !== null || opts.child.proc.signalCode !== null)) {
      throw new Error(`${opts.child.name} exited while waiting for ${what}: see ${opts.child.log}`);
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${opts.child ? `: see ${opts.child.log}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
