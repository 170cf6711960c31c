// The warm pools of one container host. At start, every few seconds, after each claim and when a
// pooled container dies, one pass (never two at once in this process): work out the pools this
// host should keep (every template version that declares `pool`, overridden or added by
// ARBITER_POOLS, each keyed by its template digest, the policy bundle's sha256, its runtime and
// its hardening: activities/pool/pool-key.ts), drain the entries that no longer fit (another key,
// incomplete, not running, above max), then create entries up to each pool's min while pooled
// entries plus running scenarios stay below the host's capacity. The decisions themselves are
// activities/pool/pool-logic.ts; this module knows how to make an entry and when to look.
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import { LABELS, podMembers, type PodMember } from '../activities/container-spec.ts';
import { ApplicationFailure } from '@temporalio/common';
import { FailureTypes } from '../contract/failures.ts';
import { awaitReady, isNotFound, memberImage, type HostPools } from '../activities/launch-and-teardown.ts';
import { injectionTargets, primeInjector } from '../activities/scenario-injection.ts';
import type { OpenExec } from '../infra/container-access.ts';
import { memberSuffixes, poolKey, poolScenarioId } from '../activities/pool/pool-key.ts';
import { entryPrefix, isComplete, PoolLogic, WARMING_SUFFIX, type DesiredPool, type PoolEntryView } from '../activities/pool/pool-logic.ts';
import { dockerPoolEngine } from '../activities/pool/docker-pool-engine.ts';
import type { PoolOverride } from '../infra/config.ts';
import { poolReady, poolRefills } from '../infra/metrics.ts';
import { policyBundleSha256 } from '../infra/policy/wasm-engine.ts';
import { pinTemplate } from '../infra/template-publication.ts';
import { listTemplates, loadTemplate, runtimeOf, type Template } from '../infra/template.ts';

export const POOL_TICK_MS = 5_000;
/** A pool whose entry could not be made is not tried again before this. */
const FAILED_POOL_BACKOFF_MS = 30_000;

export interface PoolKeeperOptions {
  docker: Docker;
  hostId: string;
  templatesDir: string;
  /** the policy bundle whose sha256 keys the pools (config.policyDir), unless `policySha256` pins it */
  policyDir?: string | undefined;
  policySha256?: string | undefined;
  overrides: readonly PoolOverride[];
  /** keep no pool at all (ARBITER_POOLS=none): every unclaimed entry of this host is drained */
  off?: boolean;
  capacity: number;
  log: Pick<Logger, 'info' | 'warn'>;
  tickMs?: number;
}

export interface PoolStatus { template: string; key: string; ready: number; min: number; max: number }

export interface PoolKeeper extends HostPools {
  start(): void;
  stop(): Promise<void>;
  /** asks for a pass (one runs at a time; a request during a pass runs one more after it) */
  trigger(reason: string): void;
  /** a pass now, awaited */
  settle(): Promise<void>;
  status(): PoolStatus[];
}

interface KeptPool extends DesiredPool { template: Template; ref: string; digest: string }

/** Scenarios running on a host: cold ones by their label, claimed ones by their entry. */
export async function runningScenarios(docker: Docker, hostId: string): Promise<number> {
  const containers = await docker.listContainers({ all: true, filters: { label: [`${LABELS.managed}=true`, `${LABELS.host}=${hostId}`] } });
  const scenarios = new Set<string>();
  for (const c of containers) {
    const role = c.Labels[LABELS.role];
    if (role !== 'scenario' && role !== 'holder') continue;
    const entry = c.Labels[LABELS.poolEntry];
    const name = (c.Names[0] ?? '').replace(/^\//, '');
    if (c.Labels[LABELS.scenario]) scenarios.add(c.Labels[LABELS.scenario]!);
    else if (entry && !name.startsWith(entryPrefix(c.Labels[LABELS.pool] ?? '', entry))) scenarios.add(`entry:${entry}`);
  }
  return scenarios.size;
}

/** The engine answered that an image is missing, or was built from another template version. */
function imageAbsent(err: unknown): boolean {
  if (isNotFound(err)) return true;
  return err instanceof ApplicationFailure && (err.type === FailureTypes.imageMissing || err.type === FailureTypes.templateModified);
}

export function createPoolKeeper(opts: PoolKeeperOptions): PoolKeeper {
  const { docker, log } = opts;
  let current: KeptPool[] = [];
  /** the pools to keep have been worked out at least once (until then a launch looks for entries anyway) */
  let known = false;
  let statuses: PoolStatus[] = [];
  const failedUntil = new Map<string, number>();
  // A template that cannot be pooled says so once per reason, not on every pass.
  const warned = new Set<string>();
  const warnOnce = (fields: Record<string, unknown>, msg: string) => {
    const id = `${msg}:${JSON.stringify(fields)}`;
    if (warned.has(id)) return;
    warned.add(id);
    log.warn(fields, msg);
  };

  /** A new entry's members, the main by its warming name (it takes its pooled name once all are ready). */
  function membersOf(key: string, entry: string): { pool: KeptPool; members: PodMember[] } {
    const pool = current.find((p) => p.key === key);
    if (!pool) throw new Error(`pool ${key} is not kept by this host any more`);
    const members = podMembers({
      scenarioId: poolScenarioId(key, entry), tenant: '', template: pool.template, limits: { ...pool.template.limits }, env: [], hostId: opts.hostId, pool: { key, entry },
    }).map((m) => (m.main ? { ...m, containerName: m.containerName + WARMING_SUFFIX, spec: { ...m.spec, name: m.containerName + WARMING_SUFFIX } } : m));
    return { pool, members };
  }

  const engine = dockerPoolEngine(docker, {
    async createMember(key, entry, suffix, name) {
      const { pool, members } = membersOf(key, entry);
      const member = members.find((m) => m.containerName === name);
      if (!member || (suffix === '') !== member.main) throw new Error(`pool ${key} has no member ${name} (${suffix || 'main'})`);
      // Exactly the image a launch of this template version would check for, by its id: a tag
      // rebuilt in between is not what the entry runs.
      const image = await memberImage(docker, member, pool.digest);
      await docker.createContainer({ ...member.spec, Image: image.Id });
    },
    async startEntry(key, entry) {
      const { pool, members } = membersOf(key, entry);
      for (const m of members) {
        try {
          await docker.getContainer(m.containerName).start();
        } catch (err) {
          if ((err as { statusCode?: number }).statusCode !== 304) throw err;
        }
      }
      for (const m of members) await awaitReady(docker, m);
      // What the claim will write into the entry is written by a process started now: a claim then
      // costs a write to its stdin, not an exec's create and start (about 100 ms, bench/pools.ts).
      await Promise.all(injectionTargets(pool.template, members).map(async (m) => prime((await docker.getContainer(m.containerName).inspect()).Id, m, pool.ref)));
      poolRefills.inc({ template: pool.ref });
    },
  });
  const logic = new PoolLogic(engine, opts.hostId);

  // Injectors started in pooled containers, by container id (a claim renames, the id stays). One
  // still starting is a promise the claim waits for. "taken": a claim asked for this container's,
  // so none is started in it after (a pass's list of entries may predate the claim's rename). Both
  // sides check and set synchronously, so a claim either gets the injector or none is ever started.
  interface Primed { ready: Promise<OpenExec | undefined>; opened?: OpenExec }
  const primed = new Map<string, Primed | 'taken'>();
  /** Starts an injector in the container unless it has one (or a claim took it); a failure leaves the claim to an exec. */
  function prime(id: string, member: PodMember, ref: string): Promise<OpenExec | undefined> {
    const known = primed.get(id);
    if (known === 'taken') return Promise.resolve(undefined);
    if (known) return known.ready;
    const p: Primed = {
      ready: primeInjector(docker, member).then((opened) => {
        p.opened = opened;
        return opened;
      }, (err: unknown) => {
        if (primed.get(id) === p) primed.delete(id);
        log.warn({ template: ref, container: member.containerName, err: (err as Error).message }, 'pool: could not start the injector ahead of a claim');
        return undefined;
      }),
    };
    primed.set(id, p);
    return p.ready;
  }
  const abandon = (p: Primed | 'taken') => { if (p !== 'taken') void p.ready.then((opened) => opened?.abandon()); };

  /**
   * Forgets the injectors of containers that are gone (abandoning them) and those that ended, and
   * starts one in every ready entry that has none: entries an earlier worker process made, or
   * whose injector's connection broke.
   */
  async function primeEntries(desired: readonly KeptPool[], entries: readonly PoolEntryView[]): Promise<void> {
    const alive = new Set(entries.flatMap((e) => e.members.map((m) => m.id)));
    for (const [id, p] of primed) {
      if (!alive.has(id)) {
        abandon(p);
        primed.delete(id);
      } else if (p !== 'taken' && p.opened?.ended) {
        primed.delete(id);
      }
    }
    const starting: Array<Promise<unknown>> = [];
    for (const e of entries) {
      const pool = desired.find((d) => d.key === e.key);
      if (!pool || e.claimed || !isComplete(e, pool.suffixes)) continue;
      const members = podMembers({ scenarioId: poolScenarioId(e.key, e.entry), tenant: '', template: pool.template, limits: { ...pool.template.limits }, env: [], hostId: opts.hostId, pool: { key: e.key, entry: e.entry } });
      for (const m of injectionTargets(pool.template, members)) {
        const c = e.members.find((x) => x.name === m.containerName);
        if (c && !primed.has(c.id)) starting.push(prime(c.id, m, pool.ref));
      }
    }
    await Promise.all(starting);
  }

  /** The pools this host should keep, as the templates and the policy on disk say now. */
  async function desiredPools(): Promise<KeptPool[]> {
    const policySha256 = opts.policySha256 ?? await policyBundleSha256(opts.policyDir);
    const pools: KeptPool[] = [];
    if (opts.off) return pools;
    for (const ref of listTemplates(opts.templatesDir)) {
      const refText = `${ref.id}@${ref.version}`;
      const override = opts.overrides.find((o) => o.template === ref.id && o.version === ref.version);
      let template: Template;
      let digest: string;
      try {
        template = loadTemplate(ref, opts.templatesDir);
        const bounds = override ?? template.pool;
        if (!bounds || bounds.max === 0) continue;
        digest = pinTemplate(ref, opts.templatesDir).digest;
      } catch (err) {
        warnOnce({ template: refText, err: (err as Error).message }, 'pool: template skipped');
        continue;
      }
      const bounds = (override ?? template.pool)!;
      const probe = podMembers({ scenarioId: 'pool-probe', tenant: '', template, limits: { ...template.limits }, env: [], hostId: opts.hostId });
      // The images a launch would check for (built from this digest): none, no entry can be made.
      const images: Record<string, string> = {};
      try {
        for (const m of probe) {
          const tag = m.spec.Image!;
          images[tag] ??= (await memberImage(docker, m, digest)).Id;
        }
      } catch (err) {
        // An engine that does not answer (restarting, say) tells nothing about the images: the pass
        // stops there, and the pools worked out last stay kept. Taking the template as unpooled
        // would turn launches cold until the next pass and drain its entries if the engine is back.
        if (!imageAbsent(err)) throw err;
        warnOnce({ template: refText, err: (err as Error).message }, 'pool: template skipped (its images are not built from this version)');
        continue;
      }
      pools.push({
        key: poolKey({ templateDigest: digest, policySha256, runtime: runtimeOf(template), members: probe, images }),
        min: bounds.min, max: bounds.max, suffixes: memberSuffixes(probe, 'pool-probe'), template, ref: refText, digest,
      });
    }
    return pools;
  }

  const busy = () => runningScenarios(docker, opts.hostId);

  async function pass(reason: string): Promise<void> {
    let desired: KeptPool[];
    try {
      desired = await desiredPools();
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'pool: could not work out the pools to keep');
      return;
    }
    const before = current;
    current = desired;
    known = true;
    for (const p of before) if (!desired.some((d) => d.key === p.key)) poolReady.remove({ template: p.ref, key: p.key });
    const drained = await logic.drain(desired);
    if (drained > 0) log.info({ drained, reason }, 'pool: drained entries that no longer fit');
    const now = Date.now();
    for (const pool of desired) {
      if ((failedUntil.get(pool.key) ?? 0) > now) continue;
      try {
        const created = await logic.refill([pool], opts.capacity, await busy());
        if (created > 0) log.info({ template: pool.ref, key: pool.key, created, reason }, 'pool: refilled');
      } catch (err) {
        failedUntil.set(pool.key, now + FAILED_POOL_BACKOFF_MS);
        log.warn({ template: pool.ref, key: pool.key, err: (err as Error).message }, 'pool: could not make an entry');
      }
    }
    const entries = await logic.entries();
    await primeEntries(desired, entries);
    statuses = desired.map((p) => ({ template: p.ref, key: p.key, ready: entries.filter((e) => e.key === p.key && isComplete(e, p.suffixes)).length, min: p.min, max: p.max }));
    for (const s of statuses) poolReady.set({ template: s.template, key: s.key }, s.ready);
  }

  let running: Promise<void> | undefined;
  let again = false;
  let stopped = true;
  let timer: NodeJS.Timeout | undefined;

  function trigger(reason: string): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        await pass(reason).catch((err: unknown) => log.warn({ err: (err as Error).message, reason }, 'pool: pass failed'));
      } while (again && !stopped);
    })().finally(() => { running = undefined; });
  }

  return {
    logic,
    claimed: () => trigger('claim'),
    // The reconciler's pass: drained by the same rules, serialized with the keeper's own.
    reconcile: async () => {
      if (!stopped) {
        trigger('reconcile');
        return await running;
      }
      await logic.drain(current);
    },
    start() {
      if (!stopped) return;
      stopped = false;
      trigger('start');
      timer = setInterval(() => trigger('tick'), opts.tickMs ?? POOL_TICK_MS);
      timer.unref();
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
      // Their processes see EOF and exit without writing; the next keeper starts new ones.
      for (const p of primed.values()) abandon(p);
      primed.clear();
    },
    primed(containerId) {
      const p = primed.get(containerId);
      primed.set(containerId, 'taken');
      return p && p !== 'taken' ? p.ready : Promise.resolve(undefined);
    },
    keeps: (key) => (known ? current.some((p) => p.key === key) : undefined),
    keepsTemplate: (digest) => (known ? current.some((p) => p.digest === digest) : undefined),
    trigger,
    async settle() {
      trigger('settle');
      await running;
    },
    status: () => statuses,
  };
}
