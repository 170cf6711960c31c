// What a host's power loss does to a Docker engine, done to one of the fault suite's own engines:
// dockerd, the containerd it started, every container shim of its exec root and every container's
// processes die at once, so nothing is left to record how the containers ended. Started again on
// the same data root, the engine finds its containers gone (exit 255) and says nothing about it:
// no event, only their state (live-restore keeps containers through a restart of dockerd alone,
// not through this).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { waitFor } from './harness.ts';

interface ProcInfo { pid: number; ppid: number; argv: string[] }

/** Every process of this machine, with its parent and command line (gone ones skipped). */
function processes(): ProcInfo[] {
  const found: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(join('/proc', name, 'stat'), 'utf8');
      // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const argv = readFileSync(join('/proc', name, 'cmdline'), 'utf8').split('\0').filter(Boolean);
      found.push({ pid: Number(name), ppid, argv });
    } catch {
      // exited while listed
    }
  }
  return found;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * SIGKILLs the engine whose dockerd is `dockerdPid` (exec root `execRoot`) with its containerd, its
 * shims and the first process of each running container (docker-init, the container's PID 1: the
 * kernel kills the rest of its PID namespace with it), and waits until all of them are gone
 * (reaped, not only dead: a containerd left as a zombie would make the next dockerd wait for it).
 * Returns the pids it killed.
 */
export async function powerLoss(docker: Docker, dockerdPid: number, execRoot: string): Promise<number[]> {
  const containerPids: number[] = [];
  for (const c of await docker.listContainers()) {
    const pid = (await docker.getContainer(c.Id).inspect()).State.Pid;
    if (pid > 0) containerPids.push(pid);
  }
  const all = processes();
  const containerd = all.filter((p) => p.ppid === dockerdPid && p.argv[0]?.endsWith('containerd')).map((p) => p.pid);
  const shimAddress = join(execRoot, 'containerd', 'containerd.sock');
  const shims = all.filter((p) => p.argv[0]?.includes('containerd-shim') && p.argv.includes(shimAddress)).map((p) => p.pid);
  if (containerd.length !== 1) throw new Error(`dockerd ${dockerdPid} has ${containerd.length} containerd children, not one`);
  const killed = [dockerdPid, ...containerd, ...shims, ...containerPids];
  for (const pid of killed) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await waitFor('the crashed engine\'s processes to be gone', async () => (killed.some(alive) ? undefined : true), 60_000);
  return killed;
}
