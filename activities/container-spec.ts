// The hardening every Arbiter container gets, scenario and scorer alike, built in one place so a
// test can assert the whole set and no call site can forget a setting.
import type Docker from 'dockerode';
import type { Template } from '../infra/template.ts';

export interface EffectiveLimits { memoryMb: number; cpus: number; pids: number; ttlSeconds: number; tmpfsMb: number }

export const LABELS = {
  managed: 'io.arbiter.managed',
  scenario: 'io.arbiter.scenario',
  tenant: 'io.arbiter.tenant',
  role: 'io.arbiter.role',
  template: 'io.arbiter.template',
  /** the container host (ARBITER_HOST_ID) that owns it: its reconciler judges only its own */
  host: 'io.arbiter.host',
} as const;

export const LOG_MAX_SIZE = '1m';

export interface SpecRequest {
  name: string;
  image: string;
  command?: string[] | undefined;
  user: string;
  env?: string[];
  limits: Omit<EffectiveLimits, 'ttlSeconds'>;
  labels: Record<string, string>;
  /** host paths mounted read-only, as "host:container" */
  readOnlyBinds?: string[];
  tmpfsPath?: string;
  runtime?: string | undefined;
}

export function hardenedSpec(req: SpecRequest): Docker.ContainerCreateOptions {
  const memory = req.limits.memoryMb * 1024 * 1024;
  return {
    name: req.name,
    Image: req.image,
    ...(req.command ? { Cmd: req.command } : {}),
    User: req.user,
    Env: req.env ?? [],
    Labels: { ...req.labels, [LABELS.managed]: 'true' },
    NetworkDisabled: true,
    AttachStdin: false,
    Tty: false,
    HostConfig: {
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      CapAdd: [],
      SecurityOpt: ['no-new-privileges:true'],
      Privileged: false,
      Memory: memory,
      // Equal to Memory: no swap, so the memory limit is the real limit.
      MemorySwap: memory,
      NanoCpus: Math.round(req.limits.cpus * 1e9),
      PidsLimit: req.limits.pids,
      // No nproc ulimit: RLIMIT_NPROC counts every process of the uid on the whole host, not per
      // container, so one scenario's fork bomb would stop every other scenario running as the same
      // uid from forking (measured with the probe template). PidsLimit is the per-container cap.
      Ulimits: [
        { Name: 'nofile', Soft: 1024, Hard: 1024 },
        { Name: 'core', Soft: 0, Hard: 0 },
      ],
      Tmpfs: { [req.tmpfsPath ?? '/tmp']: `rw,noexec,nosuid,nodev,size=${req.limits.tmpfsMb}m,uid=${req.user.split(':')[0]},gid=${req.user.split(':')[1]}` },
      IpcMode: 'private',
      PidMode: '',
      UTSMode: '',
      UsernsMode: '',
      Init: true,
      LogConfig: { Type: 'json-file', Config: { 'max-size': LOG_MAX_SIZE, 'max-file': '1' } },
      Binds: (req.readOnlyBinds ?? []).map((b) => `${b}:ro`),
      Devices: [],
      RestartPolicy: { Name: 'no' },
      AutoRemove: false,
      ...(req.runtime ? { Runtime: req.runtime } : {}),
    },
  };
}

export function scenarioContainerName(scenarioId: string): string {
  return `arbiter-${scenarioId}`;
}
export function scorerContainerName(scenarioId: string): string {
  return `arbiter-${scenarioId}-scorer`;
}

export function scenarioSpec(args: { scenarioId: string; tenant: string; template: Template; limits: EffectiveLimits; env: string[]; runtime?: string | undefined; hostId?: string }): Docker.ContainerCreateOptions {
  const { template } = args;
  return hardenedSpec({
    name: scenarioContainerName(args.scenarioId),
    image: template.image.tag,
    command: template.image.command,
    user: template.user,
    env: args.env,
    limits: args.limits,
    tmpfsPath: '/work',
    runtime: args.runtime,
    labels: {
      [LABELS.scenario]: args.scenarioId,
      [LABELS.tenant]: args.tenant,
      [LABELS.role]: 'scenario',
      [LABELS.template]: `${template.id}@${template.version}`,
      ...(args.hostId ? { [LABELS.host]: args.hostId } : {}),
    },
  });
}
