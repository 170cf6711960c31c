// The isolation a container will get, read off the Docker create options that will create
// it. The spawn policy judges this summary, so what it allows is what the engine applies:
// a setting added to container-spec.ts reaches the policy without anyone restating it.
//
// Docker's own defaults decide what an absent option means here: no NetworkMode is the
// default bridge, no User is the image's user (often root), no PidsLimit is unlimited.
import type Docker from 'dockerode';
import type { IsolationSettings, PolicyMount } from '../lib/policy-types.ts';

const MIB = 1024 * 1024;

export function isolationOf(spec: Docker.ContainerCreateOptions): IsolationSettings {
  const host = spec.HostConfig ?? {};
  // Not in @types/dockerode, but Docker honours it.
  const cgroupns = (host as { CgroupnsMode?: string }).CgroupnsMode;
  const securityOpt = strings(host.SecurityOpt);
  return {
    // No Runtime is the engine's default, which Arbiter's engines leave at runc.
    runtime: (host as { Runtime?: string }).Runtime ?? 'runc',
    networkMode: host.NetworkMode ?? 'default',
    networkDisabled: spec.NetworkDisabled === true,
    readonlyRootfs: host.ReadonlyRootfs === true,
    privileged: host.Privileged === true,
    user: spec.User ?? '',
    capDrop: strings(host.CapDrop),
    capAdd: strings(host.CapAdd),
    noNewPrivileges: noNewPrivileges(securityOpt),
    seccomp: seccompProfile(securityOpt),
    namespaces: {
      pid: host.PidMode ?? '',
      ipc: host.IpcMode ?? '',
      uts: host.UTSMode ?? '',
      userns: host.UsernsMode ?? '',
      cgroupns: cgroupns ?? '',
    },
    devices: devicesOf(host),
    mounts: mountsOf(spec, host),
    resources: {
      memoryMb: (host.Memory ?? 0) / MIB,
      memorySwapMb: memoryPlusSwap(host) / MIB,
      cpus: (host.NanoCpus ?? 0) / 1e9,
      // Absent, 0 and -1 all mean "no limit" to Docker; 0 is what the policy refuses.
      pids: host.PidsLimit !== undefined && host.PidsLimit > 0 ? host.PidsLimit : 0,
      nproc: nprocOf(host),
    },
  };
}

/** The hard RLIMIT_NPROC the container gets, 0 for none. */
function nprocOf(host: Docker.HostConfig): number {
  const u = (host.Ulimits ?? []).find((x) => x.Name === 'nproc');
  return u?.Hard !== undefined && u.Hard > 0 ? u.Hard : 0;
}

/**
 * Docker's MemorySwap is memory plus swap. Absent or 0 means as much swap as memory again,
 * -1 means unlimited swap (reported as an amount no plan reaches), and a value equal to
 * Memory means no swap at all.
 */
function memoryPlusSwap(host: Docker.HostConfig): number {
  const memory = host.Memory ?? 0;
  const swap = host.MemorySwap;
  if (swap === undefined || swap === 0) return 2 * memory;
  if (swap < 0) return Number.MAX_SAFE_INTEGER;
  return swap;
}

/** Docker accepts both "no-new-privileges" and "no-new-privileges:true" (or "=true"). */
function noNewPrivileges(securityOpt: string[]): boolean {
  let on = false;
  for (const opt of securityOpt) {
    const [key, value] = splitOption(opt);
    if (key !== 'no-new-privileges') continue;
    on = value === undefined || value === 'true';
  }
  return on;
}

function seccompProfile(securityOpt: string[]): string {
  let profile = 'default';
  for (const opt of securityOpt) {
    const [key, value] = splitOption(opt);
    if (key !== 'seccomp') continue;
    profile = value === 'unconfined' ? 'unconfined' : 'custom';
  }
  return profile;
}

/** Security options are "key=value" or the legacy "key:value". */
function splitOption(opt: string): [string, string | undefined] {
  const at = opt.search(/[=:]/);
  return at < 0 ? [opt, undefined] : [opt.slice(0, at), opt.slice(at + 1)];
}

function devicesOf(host: Docker.HostConfig): string[] {
  const devices: string[] = [];
  for (const d of array(host.Devices)) {
    const path = (d as { PathOnHost?: unknown } | null)?.PathOnHost;
    devices.push(typeof path === 'string' ? path : JSON.stringify(d));
  }
  for (const r of host.DeviceRequests ?? []) devices.push(`request:${r.Driver || 'any'}`);
  for (const rule of host.DeviceCgroupRules ?? []) devices.push(`cgroup-rule:${rule}`);
  return devices;
}

function mountsOf(spec: Docker.ContainerCreateOptions, host: Docker.HostConfig): PolicyMount[] {
  const mounts: PolicyMount[] = [];
  for (const bind of strings(host.Binds)) mounts.push(parseBind(bind));
  for (const m of host.Mounts ?? []) {
    // tmpfs lives in memory, size-limited by the spec; it exposes nothing of the host.
    if (m.Type === 'tmpfs') continue;
    mounts.push({ type: m.Type, source: m.Source ?? '', target: m.Target, readOnly: m.ReadOnly === true });
  }
  for (const from of strings(host.VolumesFrom)) {
    const [container, mode] = from.split(':');
    mounts.push({ type: 'volumes-from', source: container ?? '', target: '', readOnly: mode === 'ro' });
  }
  // Image-style anonymous volumes are writable and outlive the container.
  for (const target of Object.keys(spec.Volumes ?? {})) mounts.push({ type: 'volume', source: '', target, readOnly: false });
  return mounts;
}

/** "source:target[:options]", where a source without a leading slash names a volume. */
function parseBind(bind: string): PolicyMount {
  const [source = '', target = '', options = ''] = bind.split(':');
  const opts = options.split(',');
  return {
    type: source.startsWith('/') ? 'bind' : 'volume',
    source,
    target,
    readOnly: opts.includes('ro') || opts.includes('readonly'),
  };
}

function array(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function strings(v: unknown): string[] {
  return array(v).map((x) => String(x));
}
