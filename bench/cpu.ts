// Where the CPU went during a measurement: CPU seconds used by each process of the stack, the
// engine's daemons and the bench itself between two snapshots. On a 2-core machine this is what
// says whether Arbiter's processes or the engine are the bottleneck.
import { readFileSync, readdirSync } from 'node:fs';
import { cpuSeconds, treeCpuSeconds } from './processes.ts';

export type CpuSnapshot = Record<string, number>;

/**
 * CPU seconds the whole machine spent busy (every core, user + system + interrupts, from
 * /proc/stat): what no per-process count sees as well, such as runc, the shims, the containers'
 * own processes and the kernel's work for them. Busy seconds over wall seconds says whether the
 * cores were the limit.
 */
export function machineBusySeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq (in USER_HZ, 100 on Linux); guest time is already
  // in user, and steal is the hypervisor's, not this machine's work
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = fields;
  return (user + nice + system + irq + softirq) / 100;
}

function engineDaemons(pidFile = '/var/run/docker.pid', suffix = ''): Record<string, number> {
  let dockerd: number;
  try {
    dockerd = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return {};
  }
  const found: Record<string, number> = { [`dockerd${suffix}`]: dockerd };
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const status = readFileSync(`/proc/${d}/status`, 'utf8');
      if (/^Name:\s+containerd$/m.test(status) && new RegExp(`^PPid:\\s+${dockerd}$`, 'm').test(status)) found[`containerd${suffix}`] = Number(d);
    } catch { /* gone */ }
  }
  return found;
}

export interface CpuMeterOptions {
  /** the engines whose dockerd and containerd are counted, by pidfile (default: the shared one) */
  engines?: Array<{ pidFile: string; suffix: string }>;
  /**
   * processes counted with their children, live and exited (PostgreSQL: the postmaster and one
   * backend per connection)
   */
  trees?: Record<string, number | undefined>;
}

export class CpuMeter {
  private readonly pids: Record<string, number>;
  private readonly trees: Record<string, number> = {};

  constructor(stackPids: Record<string, number | undefined>, opts: CpuMeterOptions = {}) {
    this.pids = {};
    for (const e of opts.engines ?? [{ pidFile: '/var/run/docker.pid', suffix: '' }]) Object.assign(this.pids, engineDaemons(e.pidFile, e.suffix));
    for (const [name, pid] of Object.entries(stackPids)) if (pid !== undefined) this.pids[name] = pid;
    for (const [name, pid] of Object.entries(opts.trees ?? {})) if (pid !== undefined) this.trees[name] = pid;
  }

  snapshot(): CpuSnapshot {
    const out: CpuSnapshot = {};
    for (const [name, pid] of Object.entries(this.pids)) out[name] = cpuSeconds(pid) ?? Number.NaN;
    for (const [name, pid] of Object.entries(this.trees)) out[name] = treeCpuSeconds(pid) ?? Number.NaN;
    const self = process.cpuUsage();
    out.bench = (self.user + self.system) / 1e6;
    return out;
  }

  /** CPU seconds per process since `before`, rounded, plus their total. */
  since(before: CpuSnapshot): CpuSnapshot {
    const now = this.snapshot();
    const out: CpuSnapshot = {};
    let total = 0;
    for (const [name, v] of Object.entries(now)) {
      const d = Math.round((v - (before[name] ?? 0)) * 100) / 100;
      out[name] = d;
      if (Number.isFinite(d)) total += d;
    }
    out.total = Math.round(total * 100) / 100;
    return out;
  }
}
