// The hardening every Arbiter container gets, scenario and scorer alike, built in one place so a
// test can assert the whole set and no call site can forget a setting.
import type Docker from 'dockerode';
import { HOLDER_IMAGE } from '../infra/images.ts';
import { holderContainerName, serviceContainerName } from '../contract/containers.ts';

export { holderContainerName, scenarioContainerName, scorerContainerName, serviceContainerName } from '../contract/containers.ts';
import { runtimeOf, servicesOf, type Runtime, type ServiceDef, type Template } from '../infra/template.ts';

export interface EffectiveLimits { memoryMb: number; cpus: number; pids: number; ttlSeconds: number; tmpfsMb: number }

export const LABELS = {
  managed: 'io.arbiter.managed',
  scenario: 'io.arbiter.scenario',
  tenant: 'io.arbiter.tenant',
  role: 'io.arbiter.role',
  template: 'io.arbiter.template',
  /** the container host (ARBITER_HOST_ID) that owns it: its reconciler judges only its own */
  host: 'io.arbiter.host',
  /** the service of the scenario a container runs (absent on the namespace holder and scorer) */
  service: 'io.arbiter.service',
  /** "true" when the scenario depends on the service staying up */
  required: 'io.arbiter.required',
  /** a warm pool's key (activities/pool/pool-key.ts) on each member of a pooled entry; kept once claimed */
  pool: 'io.arbiter.pool',
  /** the pooled entry (a whole pod) a container belongs to; kept once claimed */
  poolEntry: 'io.arbiter.pool-entry',
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
  /** "none" (the default: a namespace of its own with only lo), or the namespace holder to join */
  joinNetworkOf?: string | undefined;
  /** hosts entries, as "name:127.0.0.1"; only on a container that owns its namespace */
  extraHosts?: string[];
}

export function hardenedSpec(req: SpecRequest): Docker.ContainerCreateOptions {
  const memory = req.limits.memoryMb * 1024 * 1024;
  // gVisor refuses the cgroup pids limit on this machine's cgroup v1 (the create fails). Its own
  // kernel counts RLIMIT_NPROC per sandbox, so there the process cap is that ulimit; under runc
  // the same ulimit would count the uid's processes on the whole host (see below).
  const gvisor = req.runtime === 'runsc';
  return {
    name: req.name,
    Image: req.image,
    ...(req.command ? { Cmd: req.command } : {}),
    User: req.user,
    Env: req.env ?? [],
    Labels: { ...req.labels, [LABELS.managed]: 'true' },
    // In a pod, networking stays enabled (measured): the engine writes the /etc/hosts the services
    // share only for a holder whose networking is enabled, and gives a container with networking
    // disabled a namespace of its own instead of joining it to the holder's. The holder's mode
    // "none" leaves that namespace with only lo all the same.
    NetworkDisabled: req.extraHosts === undefined && req.joinNetworkOf === undefined,
    AttachStdin: false,
    Tty: false,
    HostConfig: {
      NetworkMode: req.joinNetworkOf ? `container:${req.joinNetworkOf}` : 'none',
      ...(req.extraHosts?.length ? { ExtraHosts: req.extraHosts } : {}),
      // The holder's resolv.conf (shared with its services) would name the host's resolver, which
      // no scenario can reach anyway: name none but the scenario's own loopback.
      ...(req.extraHosts ? { Dns: ['127.0.0.1'] } : {}),
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      CapAdd: [],
      SecurityOpt: ['no-new-privileges:true'],
      Privileged: false,
      Memory: memory,
      // Equal to Memory: no swap, so the memory limit is the real limit.
      MemorySwap: memory,
      NanoCpus: Math.round(req.limits.cpus * 1e9),
      ...(gvisor ? {} : { PidsLimit: req.limits.pids }),
      // No nproc ulimit: RLIMIT_NPROC counts every process of the uid on the whole host, not per
      // container, so one scenario's fork bomb would stop every other scenario running as the same
      // uid from forking (measured with the probe template). PidsLimit is the per-container cap.
      Ulimits: [
        { Name: 'nofile', Soft: 1024, Hard: 1024 },
        { Name: 'core', Soft: 0, Hard: 0 },
        ...(gvisor ? [{ Name: 'nproc', Soft: req.limits.pids, Hard: req.limits.pids }] : []),
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

/** How docker-init (every container runs under it: Init) exits when its child died of SIGKILL: 128 + 9. */
export const SIGKILL_EXIT_CODE = 137;

/**
 * Whether the kernel's OOM killer ended the container's main process. The engine's State.OOMKilled
 * alone does not say so: Docker 20.10 sets it on a container whose cgroup saw an OOM kill at any
 * time in its life (measured: a subject's exec'd command OOM-killed, then the main process stopped
 * by SIGTERM, exit 143, reads OOMKilled true). The OOM killer sends SIGKILL, so a main process it
 * killed exits 137; any other code means something else ended it.
 */
export function diedOfOomKill(state: { OOMKilled?: boolean; ExitCode?: number }): boolean {
  return state.OOMKilled === true && state.ExitCode === SIGKILL_EXIT_CODE;
}

/** What the namespace holder may use: it only sleeps (under docker-init). */
export const HOLDER_LIMITS = { memoryMb: 8, cpus: 0.05, pids: 8, tmpfsMb: 1 } as const;
const HOLDER_USER = '65534:65534';

/** One container of a scenario, with the options it is created with. */
export interface PodMember {
  /** the service's name, or "pod" for the namespace holder */
  name: string;
  role: 'service' | 'holder';
  main: boolean;
  required: boolean;
  containerName: string;
  spec: Docker.ContainerCreateOptions;
  service?: ServiceDef;
}

export interface PodRequest {
  scenarioId: string;
  tenant: string;
  template: Template;
  limits: EffectiveLimits;
  env: string[];
  hostId?: string;
  /**
   * A warm pool's entry, created before any scenario exists: `scenarioId` names it
   * (pool-<key>-<entry>), and it is labelled with its pool and entry instead of a scenario and a
   * tenant (labels are immutable, and neither is known until a scenario claims it).
   */
  pool?: { key: string; entry: string };
}

/**
 * Every container a scenario is made of, in launch order. One service: its container owns a
 * network namespace with only lo, as before. Several: a namespace holder owns it (so any service
 * can die without taking the namespace with it) and every service joins it, reaching the others
 * on 127.0.0.1 or by name (the holder's /etc/hosts, shared with them).
 */
export function podMembers(req: PodRequest): PodMember[] {
  const { template, scenarioId } = req;
  const runtime: Runtime = runtimeOf(template);
  const services = servicesOf(template);
  const baseLabels = {
    ...(req.pool ? { [LABELS.pool]: req.pool.key, [LABELS.poolEntry]: req.pool.entry } : { [LABELS.scenario]: scenarioId, [LABELS.tenant]: req.tenant }),
    [LABELS.template]: `${template.id}@${template.version}`,
    ...(req.hostId ? { [LABELS.host]: req.hostId } : {}),
  };
  const pod = services.length > 1;
  const holder = holderContainerName(scenarioId);
  const members: PodMember[] = [];
  if (pod) {
    members.push({
      name: 'pod', role: 'holder', main: false, required: true, containerName: holder,
      spec: hardenedSpec({
        name: holder,
        image: HOLDER_IMAGE,
        command: ['/bin/sleep', '2147483647'],
        user: HOLDER_USER,
        limits: HOLDER_LIMITS,
        labels: { ...baseLabels, [LABELS.role]: 'holder', [LABELS.required]: 'true' },
        runtime,
        extraHosts: services.map((s) => `${s.name}:127.0.0.1`),
      }),
    });
  }
  for (const service of services) {
    const containerName = serviceContainerName(scenarioId, service);
    // The main service keeps what the entitlement settled (its limits capped by the plan); the
    // others ask for their own, which the policy bounds per service and in total.
    const limits = service.main ? { memoryMb: req.limits.memoryMb, cpus: req.limits.cpus, pids: req.limits.pids, tmpfsMb: req.limits.tmpfsMb } : service.limits;
    members.push({
      name: service.name, role: 'service', main: service.main, required: service.required, containerName, service,
      spec: hardenedSpec({
        name: containerName,
        image: service.image.tag,
        command: service.image.command,
        user: service.user,
        env: req.env,
        limits,
        tmpfsPath: '/work',
        runtime,
        ...(pod ? { joinNetworkOf: holder } : {}),
        labels: { ...baseLabels, [LABELS.role]: 'scenario', [LABELS.service]: service.name, [LABELS.required]: String(service.required) },
      }),
    });
  }
  return members;
}

/** The main service's create options (what single-service scenarios have always been launched with). */
export function scenarioSpec(args: PodRequest): Docker.ContainerCreateOptions {
  return podMembers(args).find((m) => m.main)!.spec;
}
