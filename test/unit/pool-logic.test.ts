// The warm pools' decisions (activities/pool/pool-logic.ts) over an in-memory engine whose rename
// is atomic, driven through every interleaving fast-check's scheduler picks: claims of scenarios
// (each a launch: a claim, else a cold create), refills, drains (the desired pools changing under
// them, as a template digest or a policy hash does) and teardowns, any of them stopped between two
// engine calls (a worker killed) and retried. Whatever happened: no container was ever claimed by
// two scenarios, every launch ended with containers of its own, and after a final drain with no
// pool left and the teardown of every scenario, nothing is left in the engine.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LABELS } from '../../activities/container-spec.ts';
import { scenarioContainerName } from '../../contract/containers.ts';
import { Mutex, PoolLogic, poolStateOf, type DesiredPool, type EngineContainer, type PoolEngine, type RenameOutcome } from '../../activities/pool/pool-logic.ts';

const HOST = 'h1';

class Crash extends Error {}

/** The engine: containers by id; a rename is atomic; every call yields to the scheduler first. */
class MemoryEngine {
  readonly containers = new Map<string, EngineContainer>();
  /** every successful rename, for the "never two scenarios" check */
  readonly renames: Array<{ id: string; to: string }> = [];
  private next = 0;
  constructor(readonly yieldNow: () => Promise<void>) {}

  private byNameOrId(x: string): EngineContainer | undefined {
    return this.containers.get(x) ?? [...this.containers.values()].find((c) => c.name === x);
  }
  private matches(c: EngineContainer, filters: readonly string[]): boolean {
    return filters.every((f) => {
      const eq = f.indexOf('=');
      return eq < 0 ? c.labels[f] !== undefined : c.labels[f.slice(0, eq)] === f.slice(eq + 1);
    });
  }
  private add(name: string, labels: Record<string, string>, running: boolean): void {
    if (this.byNameOrId(name)) throw Object.assign(new Error(`conflict: ${name}`), { statusCode: 409 });
    const id = `c${++this.next}`;
    this.containers.set(id, { id, name, labels: { [LABELS.managed]: 'true', [LABELS.host]: HOST, ...labels }, running });
  }

  /** A view for one operation: it crashes (throws before the effect) at its `crashAt`-th call. */
  view(crashAt: number | undefined): PoolEngine & { createCold(scenarioId: string): Promise<void> } {
    let calls = 0;
    const step = async () => {
      await this.yieldNow();
      if (crashAt !== undefined && ++calls >= crashAt) throw new Crash('worker killed');
    };
    const copy = (c: EngineContainer) => ({ ...c, labels: { ...c.labels } });
    return {
      list: async (labels) => { await step(); return [...this.containers.values()].filter((c) => this.matches(c, labels)).map(copy); },
      listNamed: async (prefix, labels) => { await step(); return [...this.containers.values()].filter((c) => c.name.startsWith(prefix) && this.matches(c, labels)).map(copy); },
      inspect: async (x) => { await step(); const c = this.byNameOrId(x); return c && copy(c); },
      rename: async (x, to): Promise<RenameOutcome> => {
        await step();
        const c = this.byNameOrId(x);
        if (!c) return 'missing';
        if (this.byNameOrId(to)) return 'taken';
        c.name = to;
        this.renames.push({ id: c.id, to });
        return 'renamed';
      },
      remove: async (x) => { await step(); const c = this.byNameOrId(x); if (c) this.containers.delete(c.id); },
      createMember: async (key, entry, suffix, name) => {
        await step();
        this.add(name, { [LABELS.pool]: key, [LABELS.poolEntry]: entry, [LABELS.role]: suffix === '-pod' ? 'holder' : 'scenario' }, false);
      },
      startEntry: async (key, entry) => {
        await step();
        for (const c of this.containers.values()) if (c.labels[LABELS.poolEntry] === entry && c.labels[LABELS.pool] === key) c.running = true;
      },
      createCold: async (scenarioId) => {
        await step();
        if (!this.byNameOrId(scenarioContainerName(scenarioId))) this.add(scenarioContainerName(scenarioId), { [LABELS.scenario]: scenarioId, [LABELS.role]: 'scenario' }, true);
      },
    };
  }
}

const POOLS: Record<string, DesiredPool> = {
  // one container, and a pod of three (holder, main, a further service)
  k1aaaaaaaaaaaaaa: { key: 'k1aaaaaaaaaaaaaa', min: 2, max: 3, suffixes: [''] },
  k2bbbbbbbbbbbbbb: { key: 'k2bbbbbbbbbbbbbb', min: 1, max: 2, suffixes: ['-pod', '', '-svc-target'] },
};
const KEYS = Object.keys(POOLS);

type Op =
  | { kind: 'launch'; scenario: number; key: number; listAhead: boolean; crashAt?: number | undefined }
  | { kind: 'refill'; keys: number[]; crashAt?: number | undefined }
  | { kind: 'drain'; keys: number[]; crashAt?: number | undefined };

const crashAt = fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined });
const keySet = fc.subarray([0, 1]);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('launch' as const), scenario: fc.integer({ min: 0, max: 5 }), key: fc.integer({ min: 0, max: 1 }), listAhead: fc.boolean(), crashAt }),
  fc.record({ kind: fc.constant('refill' as const), keys: keySet, crashAt }),
  fc.record({ kind: fc.constant('drain' as const), keys: keySet, crashAt }),
);

describe('warm pool claims, refills and drains (in-memory engine, any interleaving, crashes)', () => {
  it('no container is ever claimed by two scenarios, and after a final drain and every teardown none is left', async () => {
    await fc.assert(fc.asyncProperty(fc.scheduler(), fc.array(opArb, { minLength: 1, maxLength: 12 }), async (s, ops) => {
      const engine = new MemoryEngine(() => s.schedule(Promise.resolve(), 'engine call'));
      const lock = new Mutex();
      const logicOf = (crash: number | undefined) => {
        const view = engine.view(crash);
        return { view, logic: new PoolLogic(view, HOST, lock) };
      };
      const launched = new Map<string, Set<string>>();

      /** One launch: claim, else cold; a crash is retried as the activity's next attempt (no crash). */
      async function launch(scenarioId: string, key: string, listAhead: boolean, crash: number | undefined): Promise<void> {
        for (let attempt = 0; ; attempt++) {
          const { view, logic } = logicOf(attempt === 0 ? crash : undefined);
          try {
            const claimed = await logic.claim(key, scenarioId, POOLS[key]!.suffixes, undefined, { listAhead });
            if (!claimed) await view.createCold(scenarioId);
            const ids = claimed ? claimed.containers.map((c) => c.id) : [];
            launched.set(scenarioId, new Set(ids));
            return;
          } catch (err) {
            if (!(err instanceof Crash)) throw err;
          }
        }
      }
      const ignoreCrash = (err: unknown) => { if (!(err instanceof Crash)) throw err; };
      const desired = (keys: number[]) => keys.map((k) => POOLS[KEYS[k]!]!);

      const started = new Set<string>();
      const runs = ops.map((op) => {
        if (op.kind === 'launch') {
          const id = `scn-${op.scenario}`;
          // One launch per scenario (a second launch of one scenario is its retry, modelled above).
          if (started.has(id)) return Promise.resolve();
          started.add(id);
          return launch(id, KEYS[op.key]!, op.listAhead, op.crashAt);
        }
        const { logic } = logicOf(op.crashAt);
        return (op.kind === 'refill' ? logic.refill(desired(op.keys), 6, 0) : logic.drain(desired(op.keys))).then(() => undefined, ignoreCrash);
      });
      await s.waitFor(Promise.all(runs));

      // No container id was ever renamed to the names of two scenarios.
      const owners = new Map<string, Set<string>>();
      for (const r of engine.renames) {
        // A new entry's main taking its pooled name once ready is no claim.
        if (r.to.startsWith('arbiter-pool-')) continue;
        const state = poolStateOf(r.to, { [LABELS.pool]: 'x', [LABELS.poolEntry]: 'y', [LABELS.role]: r.to.endsWith('-pod') ? 'holder' : 'scenario', [LABELS.service]: 'target' });
        if (state.kind !== 'claimed') continue;
        owners.set(r.id, (owners.get(r.id) ?? new Set()).add(state.scenarioId ?? '?'));
      }
      for (const [id, who] of owners) assert.ok(who.size <= 1, `container ${id} was renamed to ${[...who].join(' and ')}`);
      // Claimed containers are disjoint between scenarios.
      const seen = new Map<string, string>();
      for (const [scenario, ids] of launched) {
        for (const id of ids) {
          assert.equal(seen.get(id), undefined, `container ${id} claimed by ${seen.get(id)} and ${scenario}`);
          seen.set(id, scenario);
        }
        // Every launched scenario has its main container under its own name.
        const main = [...engine.containers.values()].find((c) => c.name === scenarioContainerName(scenario));
        assert.ok(main, `${scenario} has its main container`);
      }

      // The pool set to nothing and drained, every scenario torn down: the engine is empty.
      const final = logicOf(undefined).logic;
      const done = (async () => {
        await final.drain([]);
        for (const scenario of launched.keys()) for (const c of await final.scenarioContainers(scenario)) await logicOf(undefined).view.remove(c.id);
      })();
      await s.waitFor(done);
      assert.deepEqual([...engine.containers.values()].map((c) => c.name), []);
    }), { numRuns: 600 });
  });

  it('a claim takes a ready entry whole (its pod renamed member by member), and the refill brings the pool back to min', async () => {
    const engine = new MemoryEngine(() => Promise.resolve());
    const logic = new PoolLogic(engine.view(undefined), HOST);
    const pod = POOLS[KEYS[1]!]!;
    assert.equal(await logic.refill([pod], 10, 0), 1);
    const before = [...engine.containers.values()].map((c) => c.id).sort();
    const claimed = await logic.claim(pod.key, 'scn-one', pod.suffixes);
    assert.ok(claimed);
    assert.deepEqual(claimed.containers.map((c) => c.id).sort(), before);
    assert.deepEqual(claimed.containers.map((c) => c.name).sort(), ['arbiter-scn-one', 'arbiter-scn-one-pod', 'arbiter-scn-one-svc-target']);
    // Its retry adopts what it claimed.
    assert.deepEqual((await logic.claim(pod.key, 'scn-one', pod.suffixes))?.adopted, true);
    assert.equal(await logic.refill([pod], 10, 0), 1);
    assert.equal(await logic.claim('k-other-key-000', 'scn-two', pod.suffixes), undefined);
    // Capacity: one scenario running plus one pooled entry fill a capacity of 2.
    assert.equal(await logic.refill([{ ...pod, min: 3 }], 2, 1), 0);
  });
  /** A pool of `pool` filled to its min, a logic over it, and one whose entry lists are counted. */
  async function filled(pool: DesiredPool): Promise<{ logic: PoolLogic; counting: PoolLogic; lists: () => number }> {
    const engine = new MemoryEngine(() => Promise.resolve());
    const logic = new PoolLogic(engine.view(undefined), HOST);
    assert.equal(await logic.refill([pool], 10, 0), pool.min);
    let lists = 0;
    const counted = engine.view(undefined);
    const counting = new PoolLogic({ ...counted, list: async (labels) => { lists++; return counted.list(labels); } }, HOST);
    return { logic, counting, lists: () => lists };
  }
  it('a key the host keeps no pool of is not looked for (no list), but a retry still adopts the entry it had claimed', async () => {
    const pod = POOLS[KEYS[1]!]!;
    const { logic, counting, lists } = await filled(pod);
    assert.equal(await counting.claim(pod.key, 'scn-none', pod.suffixes, () => false), undefined);
    assert.equal(lists(), 0, 'no entry was looked for');
    assert.equal((await logic.entries()).filter((e) => !e.claimed).length, 1, 'the entry is still pooled');
    const claimed = await counting.claim(Promise.resolve(pod.key), 'scn-kept', pod.suffixes, () => true);
    assert.equal(claimed?.adopted, false);
    const again = await counting.claim(pod.key, 'scn-kept', pod.suffixes, () => false);
    assert.deepEqual(again && { adopted: again.adopted, ids: again.containers.map((c) => c.id).sort() }, { adopted: true, ids: claimed.containers.map((c) => c.id).sort() });
  });
  it('with listAhead, the entries are listed once while the key is still in the making, and an entry claimed after that list is not claimed again', async () => {
    const one = POOLS[KEYS[0]!]!;
    const { logic, counting, lists } = await filled(one);
    let makeKey!: (key: string) => void;
    const key = new Promise<string>((resolve) => { makeKey = resolve; });
    const claiming = counting.claim(key, 'scn-ahead', one.suffixes, () => true, { listAhead: true });
    // Let the list answer while the key is still unknown, then take the first entry it saw.
    await new Promise((r) => setImmediate(r));
    assert.equal(lists(), 1, 'listed before the key was known');
    const first = (await logic.entries()).find((e) => !e.claimed)!;
    assert.ok(await logic.claim(one.key, 'scn-other', one.suffixes));
    makeKey(one.key);
    const claimed = await claiming;
    assert.equal(lists(), 1, 'no second list');
    assert.equal(claimed?.adopted, false);
    assert.notEqual(claimed.entry, first.entry, 'the entry claimed in between went to the other scenario only');
    assert.deepEqual((await logic.entries()).filter((e) => !e.claimed), [], 'both entries are claimed, one each');
  });
});
