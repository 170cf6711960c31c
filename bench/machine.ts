// The machine a run was measured on: ratios travel between machines, absolute figures do not.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type Docker from 'dockerode';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  os: string;
  docker: string;
  dockerStorage: string;
  cgroup: string;
  node: string;
  temporalCli: string;
}

function cpuModel(): string {
  // /proc/cpuinfo is what the kernel reports; os.cpus() can be empty in some sandboxes.
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
    if (line) return line.slice(line.indexOf(':') + 1).trim();
  } catch { /* not Linux */ }
  return os.cpus()[0]?.model ?? 'unknown';
}

function osName(): string {
  try {
    const pretty = readFileSync('/etc/os-release', 'utf8').split('\n').find((l) => l.startsWith('PRETTY_NAME='));
    if (pretty) return pretty.slice('PRETTY_NAME='.length).replaceAll('"', '');
  } catch { /* not Linux */ }
  return `${os.type()} ${os.release()}`;
}

export async function describeMachine(docker: Docker, temporalBin: string): Promise<Machine> {
  const [version, info] = await Promise.all([docker.version(), docker.info() as Promise<{ Driver?: string; CgroupVersion?: string; CgroupDriver?: string }>]);
  let temporalCli = 'unknown';
  try {
    temporalCli = execFileSync(temporalBin, ['--version'], { encoding: 'utf8' }).trim();
  } catch { /* reported as unknown */ }
  return {
    cpu: cpuModel(),
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    os: osName(),
    docker: `${version.Version} (API ${version.ApiVersion})`,
    dockerStorage: info.Driver ?? 'unknown',
    cgroup: `v${info.CgroupVersion ?? '?'} (${info.CgroupDriver ?? '?'})`,
    node: process.version,
    temporalCli,
  };
}

export function machineLine(m: Machine): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB RAM; ${m.os}, kernel ${m.kernel}; Docker ${m.docker}, ${m.dockerStorage}, cgroup ${m.cgroup}; Node ${m.node}; ${m.temporalCli} (dev server, SQLite file)`;
}
