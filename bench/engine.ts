// The Docker engine side of the bench: its event stream (a container's `start` is when it runs,
// timed by the engine itself), the raw lifecycle that is the baseline (the same image, the same
// hardening from activities/container-spec.ts, through dockerode), and the engine's memory.
import { readFileSync, readdirSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { hardenedSpec, LABELS, scenarioSpec, type EffectiveLimits } from '../activities/container-spec.ts';
import { demuxDockerLog } from '../activities/collect-evidence.ts';
import { loadTemplate, type Template } from '../infra/template.ts';

export interface EngineEvent {
  Action: string;
  id: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  /** engine clock, ns since the epoch */
  timeNano: number;
}

/** Every bench-made container carries this label with the run id, so clean-up finds them all. */
export const BENCH_LABEL = 'io.arbiter.bench';

/** One subscription to the engine's container events; waiters are served by container name. */
export class EngineEvents {
  private readonly seen = new Map<string, EngineEvent>();
  private readonly waiters = new Map<string, (e: EngineEvent) => void>();

  /** One stream per engine (the cluster shape's hosts each have their own). */
  private constructor(private readonly streams: Readable[]) {
    for (const stream of streams) {
      let buffered = '';
      stream.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line) this.deliver(JSON.parse(line) as EngineEvent);
        }
      });
    }
  }

  static async open(...engines: Docker[]): Promise<EngineEvents> {
    const streams = await Promise.all(engines.map(async (docker) => (await docker.getEvents({ filters: { type: ['container'], event: ['start', 'die', 'destroy'] } })) as unknown as Readable));
    return new EngineEvents(streams);
  }

  private deliver(e: EngineEvent): void {
    const key = `${e.Action}:${e.Actor.Attributes.name ?? ''}`;
    const waiter = this.waiters.get(key);
    if (waiter) {
      this.waiters.delete(key);
      waiter(e);
    } else {
      this.seen.set(key, e);
    }
  }

  /** The next (or an already seen) `action` event of the container called `name`. */
  next(action: 'start' | 'die' | 'destroy', name: string, timeoutMs = 120_000): Promise<EngineEvent> {
    const key = `${action}:${name}`;
    const already = this.seen.get(key);
    if (already) {
      this.seen.delete(key);
      return Promise.resolve(already);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        reject(new Error(`no ${action} event for ${name} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(key, (e) => { clearTimeout(timer); resolve(e); });
    });
  }

  /** Forgets events nobody waits for (the stream sees other people's containers too). */
  forget(): void {
    this.seen.clear();
  }

  close(): void {
    for (const stream of this.streams) stream.destroy();
  }
}

export const eventMs = (e: EngineEvent): number => e.timeNano / 1e6;
/** Wall-clock milliseconds, on the same clock as the engine's timeNano (same machine). */
export const wallMs = (): number => performance.timeOrigin + performance.now();

/** The hello template and the limits a scenario of it gets (the template's are the tightest). */
export function helloTemplate(): { template: Template; limits: EffectiveLimits } {
  const template = loadTemplate({ id: 'hello', version: '1' });
  return { template, limits: { ...template.limits } };
}

// What activities/score.ts gives the scorer container.
const SCORER_LIMITS = { memoryMb: 64, cpus: 0.5, pids: 32, tmpfsMb: 8 };

/** The raw engine doing what Arbiter's activities do, with no Temporal, API or policy around it. */
export class RawEngine {
  private readonly hello = helloTemplate();

  constructor(private readonly docker: Docker, private readonly runId: string) {}

  spec(): { name: string; spec: Docker.ContainerCreateOptions } {
    const id = `bench-raw-${randomUUID()}`;
    const spec = scenarioSpec({
      scenarioId: id,
      tenant: 'bench',
      template: this.hello.template,
      limits: this.hello.limits,
      env: [`ARBITER_SCENARIO_ID=${id}`],
    });
    // Not labelled as Arbiter's: the stack's container monitor would otherwise inspect each raw
    // container as it dies and signal a scenario of its name, work that the raw baseline is
    // charged with (and that no raw lifecycle does); its reconciler and host report would count it.
    const { [LABELS.managed]: _managed, ...labels } = spec.Labels ?? {};
    spec.Labels = { ...labels, [BENCH_LABEL]: this.runId };
    return { name: spec.name!, spec };
  }

  async launch(spec: Docker.ContainerCreateOptions): Promise<Docker.Container> {
    const container = await this.docker.createContainer(spec);
    await container.start();
    return container;
  }

  async teardown(container: Docker.Container): Promise<void> {
    try {
      await container.stop({ t: 5 });
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 304) throw err;
    }
    await container.remove({ force: true, v: true });
  }

  /** One scorer run over an evidence folder, as the score activity does it. */
  async score(evidenceDir: string, imageId: string): Promise<string> {
    const { template } = this.hello;
    const container = await this.docker.createContainer(hardenedSpec({
      name: `arbiter-bench-raw-${randomUUID()}-scorer`,
      image: imageId,
      command: template.scorer.command,
      user: template.user,
      limits: SCORER_LIMITS,
      readOnlyBinds: [`${evidenceDir}:/evidence`],
      labels: { [LABELS.role]: 'scorer', [BENCH_LABEL]: this.runId },
    }));
    try {
      await container.start();
      const result = (await container.wait()) as { StatusCode: number };
      const out = demuxDockerLog(await container.logs({ stdout: true, stderr: false, follow: false }));
      if (result.StatusCode !== 0) throw new Error(`raw scorer exited with ${result.StatusCode}`);
      return out;
    } finally {
      await container.remove({ force: true, v: true });
    }
  }

  async scorerImageId(): Promise<string> {
    return (await this.docker.getImage(this.hello.template.scorer.tag).inspect()).Id;
  }
}

/** Removes every container that carries `label=value` (bench leftovers), whatever its state. */
export async function removeLabelled(docker: Docker, label: string, value: string): Promise<number> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${label}=${value}`] } });
  await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
  return list.length;
}

function readNumber(file: string): number | undefined {
  try {
    return Number(readFileSync(file, 'utf8').trim());
  } catch {
    return undefined;
  }
}

/** A container's memory as `docker stats` counts it (usage less inactive file cache), from its cgroup. */
export function containerMemoryBytes(id: string): number | undefined {
  const v1 = `/sys/fs/cgroup/memory/docker/${id}`;
  const usage = readNumber(`${v1}/memory.usage_in_bytes`);
  if (usage !== undefined) {
    const stat = readFileSync(`${v1}/memory.stat`, 'utf8');
    const inactive = Number(/^total_inactive_file (\d+)$/m.exec(stat)?.[1] ?? 0);
    return usage - inactive;
  }
  for (const v2 of [`/sys/fs/cgroup/system.slice/docker-${id}.scope`, `/sys/fs/cgroup/docker/${id}`]) {
    const current = readNumber(`${v2}/memory.current`);
    if (current !== undefined) {
      const inactive = Number(/^inactive_file (\d+)$/m.exec(readFileSync(`${v2}/memory.stat`, 'utf8'))?.[1] ?? 0);
      return current - inactive;
    }
  }
  return undefined;
}

/** Proportional set size (shared pages split between their users), falling back to RSS. */
function pssBytes(pid: number): number {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const pss = /^Pss:\s+(\d+) kB$/m.exec(rollup)?.[1];
    if (pss) return Number(pss) * 1024;
  } catch { /* fall through */ }
  try {
    const rss = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return Number(rss ?? 0) * 1024;
  } catch {
    return 0;
  }
}

export interface EngineMemory {
  /** dockerd and its containerd */
  daemonsBytes: number;
  /** one containerd shim per container */
  shimsBytes: number;
  /** the containers' own cgroups */
  containersBytes: number;
  containers: number;
}

/**
 * What the engine spends on these containers: dockerd and containerd (PSS), each container's
 * shim (PSS) and each container's cgroup memory. dockerd is found by its pid file, which is only
 * known for the default socket; elsewhere the daemons count as 0 and the note says so.
 */
export function engineMemory(containerIds: readonly string[], dockerPidFile = '/var/run/docker.pid'): EngineMemory {
  let daemonsBytes = 0;
  const dockerd = readNumber(dockerPidFile);
  const procs = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
  const cmdline = (pid: number) => { try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'); } catch { return []; } };
  const ppid = (pid: number) => { try { return Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]); } catch { return -1; } };
  if (dockerd) {
    daemonsBytes += pssBytes(dockerd);
    for (const pid of procs) if (ppid(pid) === dockerd && cmdline(pid)[0]?.endsWith('containerd')) daemonsBytes += pssBytes(pid);
  }
  const wanted = new Set(containerIds);
  let shimsBytes = 0;
  for (const pid of procs) {
    const args = cmdline(pid);
    if (!args[0]?.includes('containerd-shim')) continue;
    const i = args.indexOf('-id');
    if (i >= 0 && wanted.has(args[i + 1] ?? '')) shimsBytes += pssBytes(pid);
  }
  let containersBytes = 0;
  for (const id of containerIds) containersBytes += containerMemoryBytes(id) ?? 0;
  return { daemonsBytes, shimsBytes, containersBytes, containers: containerIds.length };
}
