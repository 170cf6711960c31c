// The decisions of warm pools — claim, refill, drain, and which containers a scenario's teardown
// removes — over a small engine interface, so that an in-memory engine can drive them through
// every interleaving and crash (test/unit/pool-logic.test.ts) and dockerode drives them for real
// (activities/pool/docker-pool-engine.ts).
//
// A pooled entry is a whole scenario-to-be (its pod's holder and every service), named
// arbiter-pool-<key>-<entry>[-pod|-svc-<name>] and labelled with its pool key and entry id. A claim
// renames the entry's MAIN container to the scenario's main name (arbiter-<scenarioId>): the
// engine's rename is durable, and the name is unique, so once it succeeded the entry belongs to
// that scenario alone, and a retried launch finds it by the name it always looks for first. Then
// the other members are renamed after it (each rename idempotent). An entry is "claimed" as soon as
// one member carries a name outside its pool prefix; nothing but that scenario's teardown (or the
// reconciler, once its workflow is closed) removes it from then on.
//
// Renames of a pooled main and removals of a pooled main go through one in-process lock. The
// engine resolves the source name before it locks the container (moby's ContainerRename), so two
// renames of one source name racing inside the engine could both succeed, the second moving the
// container on from the first's target; one container worker per host, and this lock inside it,
// keep any two of them from ever being in flight together.
import { randomBytes } from 'node:crypto';
import { scenarioContainerName } from '../../contract/containers.ts';
import { LABELS } from '../container-spec.ts';
import { poolScenarioId } from './pool-key.ts';

export interface EngineContainer { id: string; name: string; labels: Record<string, string>; running: boolean }

/** renamed; missing: no container by the source; taken: the target name is in use */
export type RenameOutcome = 'renamed' | 'missing' | 'taken';

export interface PoolEngine {
  /** every container matching all filters, `key=value` or `key` (the label is present) */
  list(labels: readonly string[]): Promise<EngineContainer[]>;
  /** every container whose name starts with `prefix`, matching the label filters */
  listNamed(prefix: string, labels: readonly string[]): Promise<EngineContainer[]>;
  /** by exact name or id; undefined when there is none */
  inspect(nameOrId: string): Promise<EngineContainer | undefined>;
  rename(nameOrId: string, to: string): Promise<RenameOutcome>;
  /** force-removes; a container already gone is not an error */
  remove(nameOrId: string): Promise<void>;
  /** creates (does not start), named `name`, the member of a new entry whose pooled name ends with `suffix` */
  createMember(key: string, entry: string, suffix: string, name: string): Promise<void>;
  /** starts every member of the entry in launch order (the main by its warming name) and waits until each is ready */
  startEntry(key: string, entry: string): Promise<void>;
}

/** One pool the host should keep: its key, its bounds and its members' name suffixes ('' is the main). */
export interface DesiredPool { key: string; min: number; max: number; suffixes: readonly string[] }

export interface Claimed {
  key: string;
  entry: string;
  /** every container of the entry, by the scenario's names */
  containers: Array<{ name: string; id: string }>;
  /** an earlier attempt had claimed it already */
  adopted: boolean;
}

export interface PoolEntryView {
  key: string;
  entry: string;
  members: EngineContainer[];
  /** some member carries a scenario's name: it belongs to that scenario */
  claimed: boolean;
}

/** arbiter-pool-<key>-<entry>: the main's name while pooled, and every member's prefix. */
export function entryPrefix(key: string, entry: string): string {
  return scenarioContainerName(poolScenarioId(key, entry));
}

/**
 * What a new entry's main is named until every member of the entry is ready: an entry is claimable
 * only once its main carries the pooled name, so a claim never needs to wait for readiness, and an
 * entry whose making stopped halfway is never claimed (the keeper drains it).
 */
export const WARMING_SUFFIX = '-warming';

export function newEntryId(): string {
  return randomBytes(4).toString('hex');
}

/** The pooled containers grouped by entry. */
export function entriesOf(containers: readonly EngineContainer[]): PoolEntryView[] {
  const byEntry = new Map<string, PoolEntryView>();
  for (const c of containers) {
    const entry = c.labels[LABELS.poolEntry];
    const key = c.labels[LABELS.pool];
    if (!entry || !key) continue;
    let view = byEntry.get(entry);
    if (!view) byEntry.set(entry, view = { key, entry, members: [], claimed: false });
    view.members.push(c);
    if (!c.name.startsWith(entryPrefix(key, entry))) view.claimed = true;
  }
  return [...byEntry.values()].sort((a, b) => (a.entry < b.entry ? -1 : a.entry > b.entry ? 1 : 0));
}

/** Unclaimed, every member present by its pooled name and running. */
export function isComplete(e: PoolEntryView, suffixes: readonly string[]): boolean {
  if (e.claimed || e.members.length !== suffixes.length) return false;
  const prefix = entryPrefix(e.key, e.entry);
  return suffixes.every((s) => e.members.some((m) => m.name === prefix + s && m.running));
}

/** Which of a scenario's names a container carries: its main, its holder, or one of its services. */
export function isScenarioMemberName(name: string, scenarioId: string): boolean {
  const main = scenarioContainerName(scenarioId);
  return name === main || name === `${main}-pod` || name.startsWith(`${main}-svc-`);
}

/**
 * The pooled state of a container, read off its name and labels: not from a pool at all; still
 * pooled (named after its entry); or claimed, with the scenario its name says (labels cannot
 * change, so a claimed container has no scenario label: its name is what tells).
 */
export function poolStateOf(name: string, labels: Record<string, string>): { kind: 'none' } | { kind: 'pooled'; key: string; entry: string } | { kind: 'claimed'; scenarioId: string | undefined } {
  const key = labels[LABELS.pool];
  const entry = labels[LABELS.poolEntry];
  if (!key || !entry) return { kind: 'none' };
  if (name.startsWith(entryPrefix(key, entry))) return { kind: 'pooled', key, entry };
  let base = name;
  const service = labels[LABELS.service];
  if (labels[LABELS.role] === 'holder' && base.endsWith('-pod')) base = base.slice(0, -'-pod'.length);
  else if (service && base.endsWith(`-svc-${service}`)) base = base.slice(0, -`-svc-${service}`.length);
  return { kind: 'claimed', scenarioId: base.startsWith('arbiter-') ? base.slice('arbiter-'.length) : undefined };
}

/** A promise chain: one holder at a time, in arrival order; a holder that throws releases it. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

export class PoolLogic {
  private readonly hostLabel: string;
  constructor(private readonly engine: PoolEngine, hostId: string, private readonly lock = new Mutex()) {
    this.hostLabel = `${LABELS.host}=${hostId}`;
  }

  /** Every pooled or claimed-from-the-pool container of this host, by entry. */
  async entries(): Promise<PoolEntryView[]> {
    return entriesOf(await this.engine.list([LABELS.pool, this.hostLabel]));
  }

  /**
   * Claims a ready entry of `key` for the scenario, or finishes the claim an earlier attempt made
   * (its main already carries the scenario's name). Undefined: no entry (a cold launch follows),
   * or the scenario's main exists and was not pooled (an earlier cold attempt: adopt it). With
   * `kept` answering false for the key, no entry is looked for (the host keeps no such pool).
   * With `listAhead`, the entries are listed while the key is still in the making, for a launch
   * that is likely to find one (its host keeps a pool of the template): the list is then no
   * longer a round trip of its own before the rename.
   */
  async claim(key: string | PromiseLike<string>, scenarioId: string, suffixes: readonly string[], kept?: (key: string) => boolean | undefined, opts: { listAhead?: boolean } = {}): Promise<Claimed | undefined> {
    const target = scenarioContainerName(scenarioId);
    const listed = opts.listAhead ? this.entries() : undefined;
    // Not read when an earlier attempt's container is found, or the key is not kept: its failure
    // then belongs to nobody.
    listed?.catch(() => undefined);
    // The key may still be in the making (it names the images, which the launch is inspecting):
    // the look for an earlier attempt's container does not wait for it.
    const [existing, wanted] = await Promise.all([this.engine.inspect(target), key]);
    if (existing) return existing.labels[LABELS.poolEntry] ? { ...(await this.finish(scenarioId, existing)), adopted: true } : undefined;
    if (kept?.(wanted) === false) return undefined;
    // A list taken before the look for an earlier attempt's container is as good as one after:
    // the rename decides, and an entry claimed since answers "missing" or "taken" below.
    for (const e of await (listed ?? this.entries())) {
      if (e.key !== wanted || !isComplete(e, suffixes)) continue;
      const prefix = entryPrefix(wanted, e.entry);
      const outcome = await this.lock.run(() => this.engine.rename(prefix, target));
      // Another claim took it between the list and the rename: try the next one.
      if (outcome === 'missing') continue;
      let main: EngineContainer | undefined;
      if (outcome === 'renamed') {
        // What the rename moved is the container the list saw under the pooled name: only this
        // entry's main ever carries it (its entry id is new), and renames of it are serialized.
        const listed = e.members.find((m) => m.name === prefix)!;
        main = { ...listed, name: target };
      } else {
        main = await this.engine.inspect(target);
        if (!main) continue;
        // "taken": another attempt of this scenario got there first, pooled or cold.
        if (!main.labels[LABELS.poolEntry]) return undefined;
      }
      // A fresh claim of a one-container entry has nothing more to rename: no second list.
      if (outcome === 'renamed' && suffixes.length === 1) return { key: wanted, entry: e.entry, containers: [{ name: target, id: main.id }], adopted: false };
      return { ...(await this.finish(scenarioId, main)), adopted: outcome === 'taken' };
    }
    return undefined;
  }

  /** Renames the entry's other members after the claimed main; idempotent. */
  async finish(scenarioId: string, main: EngineContainer): Promise<Omit<Claimed, 'adopted'>> {
    const target = scenarioContainerName(scenarioId);
    const key = main.labels[LABELS.pool]!;
    const entry = main.labels[LABELS.poolEntry]!;
    const prefix = entryPrefix(key, entry);
    const containers = [{ name: target, id: main.id }];
    for (const m of await this.engine.list([`${LABELS.poolEntry}=${entry}`, this.hostLabel])) {
      if (m.id === main.id) continue;
      if (isScenarioMemberName(m.name, scenarioId)) {
        containers.push({ name: m.name, id: m.id });
        continue;
      }
      if (!m.name.startsWith(prefix)) throw new Error(`pool entry ${entry}: ${m.name} belongs neither to the pool nor to ${scenarioId}`);
      const to = target + m.name.slice(prefix.length);
      const outcome = await this.engine.rename(m.id, to);
      if (outcome !== 'renamed') {
        // Renamed by an earlier attempt that died before it could say so.
        const at = await this.engine.inspect(to);
        if (at?.id !== m.id) throw new Error(`pool entry ${entry}: could not rename ${m.name} to ${to} (${outcome})`);
      }
      containers.push({ name: to, id: m.id });
    }
    return { key, entry, containers };
  }

  /**
   * Removes every unclaimed entry that is not a complete entry of a desired pool, and complete
   * ones above a pool's max. Answers how many entries it removed.
   */
  async drain(desired: readonly DesiredPool[]): Promise<number> {
    const byKey = new Map(desired.map((d) => [d.key, d]));
    const kept = new Map<string, number>();
    let removed = 0;
    for (const e of await this.entries()) {
      if (e.claimed) continue;
      const pool = byKey.get(e.key);
      if (pool && isComplete(e, pool.suffixes) && (kept.get(e.key) ?? 0) < pool.max) {
        kept.set(e.key, (kept.get(e.key) ?? 0) + 1);
        continue;
      }
      if (await this.removeEntry(e.key, e.entry)) removed++;
    }
    return removed;
  }

  /**
   * Removes an unclaimed entry: its main first (pooled or still warming), under the lock (so no
   * claim can take it after, and a warming main cannot become claimable), then the rest, its
   * namespace holder last. False when a claim took it first.
   */
  async removeEntry(key: string, entry: string): Promise<boolean> {
    const prefix = entryPrefix(key, entry);
    const mine = await this.lock.run(async () => {
      const members = await this.engine.list([`${LABELS.poolEntry}=${entry}`, this.hostLabel]);
      if (members.some((m) => !m.name.startsWith(prefix))) return undefined;
      // The main, or the main still warming (which would take the pooled name once ready).
      const mains = members.filter((m) => m.name === prefix || m.name === prefix + WARMING_SUFFIX);
      for (const m of mains) await this.engine.remove(m.id);
      return members.filter((m) => !mains.includes(m));
    });
    if (!mine) return false;
    const holders = mine.filter((m) => m.name === `${prefix}-pod`);
    for (const m of mine.filter((c) => !holders.includes(c))) await this.engine.remove(m.id);
    for (const m of holders) await this.engine.remove(m.id);
    return true;
  }

  /**
   * Creates entries of each pool up to its min (never above its max), while pooled entries plus
   * `busy` (scenarios running on the host) stay below `capacity`. Answers how many it created.
   */
  async refill(desired: readonly DesiredPool[], capacity: number, busy: number): Promise<number> {
    const entries = await this.entries();
    let pooled = entries.filter((e) => !e.claimed).length;
    let created = 0;
    for (const pool of desired) {
      let ready = entries.filter((e) => e.key === pool.key && isComplete(e, pool.suffixes)).length;
      while (ready < Math.min(pool.min, pool.max) && pooled + busy < capacity) {
        const entry = newEntryId();
        const prefix = entryPrefix(pool.key, entry);
        pooled++;
        for (const suffix of pool.suffixes) await this.engine.createMember(pool.key, entry, suffix, prefix + (suffix === '' ? WARMING_SUFFIX : suffix));
        await this.engine.startEntry(pool.key, entry);
        // Drained while it was being made (a drain not serialized with this refill): the next pass refills.
        if ((await this.lock.run(() => this.engine.rename(prefix + WARMING_SUFFIX, prefix))) !== 'renamed') break;
        ready++;
        created++;
      }
    }
    return created;
  }

  /**
   * The containers a scenario's teardown removes beside those it names or labels: every one of
   * this host named as a member of the scenario, and every member of the pooled entry its main
   * was claimed from (a claim stopped halfway left some under their pooled names).
   */
  async scenarioContainers(scenarioId: string): Promise<EngineContainer[]> {
    const named = (await this.engine.listNamed(scenarioContainerName(scenarioId), [this.hostLabel])).filter((c) => isScenarioMemberName(c.name, scenarioId));
    const found = new Map(named.map((c) => [c.id, c]));
    const main = named.find((c) => c.name === scenarioContainerName(scenarioId));
    const entry = main?.labels[LABELS.poolEntry];
    if (entry) for (const c of await this.engine.list([`${LABELS.poolEntry}=${entry}`, this.hostLabel])) found.set(c.id, c);
    return [...found.values()];
  }
}
