// The pool keeper (workers/pool-keeper.ts) on the real engine when the engine does not answer one
// of its calls, as during an engine restart: the pass stops, and the pools it keeps stay what they
// were — their entries are not drained and a launch still looks for one (it does not go cold). A
// template whose images are not built, which the engine does answer for, is skipped as before.
//
// The engine's outage is the real client's real error: while `down`, the keeper's image lookups go
// to a dockerode client on a socket nothing listens on, and every other call reaches the engine (as
// when the engine is back before the pass's next call).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import Docker from 'dockerode';
import { LABELS } from '../../activities/container-spec.ts';
import { entryPrefix } from '../../activities/pool/pool-logic.ts';
import { createPoolKeeper, type PoolKeeper } from '../../workers/pool-keeper.ts';
import { pinTemplate } from '../../infra/template-publication.ts';
import { docker } from '../support/harness.ts';
import { copyPooledFlag } from '../support/templates.ts';

const ID = 'pool-keeper-engine';
const UNBUILT = 'pool-keeper-unbuilt';

describe('warm pools: the keeper when the engine does not answer', () => {
  const hostId = `keeper-${randomUUID().slice(0, 8)}`;
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-test-keeper-'));
  const dead = new Docker({ socketPath: join(dir, 'no-engine.sock') });
  let down = false;
  // The real client, but for image lookups while the engine is "down".
  const flaky = new Proxy(docker, {
    get(target, prop) {
      if (prop === 'getImage' && down) return dead.getImage.bind(dead);
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const warnings: Array<{ msg: string; fields: Record<string, unknown> }> = [];
  let root: string;
  let keeper: PoolKeeper;

  before(async () => {
    root = await copyPooledFlag(ID);
    // A second template, its images never built: the engine answers that they are missing.
    const unbuilt = join(root, UNBUILT, '1');
    cpSync(join(root, ID, '1'), unbuilt, { recursive: true });
    const file = join(unbuilt, 'template.json');
    const t = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>>;
    (t as Record<string, unknown>).id = UNBUILT;
    t.image!.tag = `arbiter-test/${UNBUILT}:1`;
    t.scorer!.tag = `arbiter-test/${UNBUILT}-scorer:1`;
    writeFileSync(file, JSON.stringify(t, null, 2));
    keeper = createPoolKeeper({
      docker: flaky, hostId, templatesDir: root, policySha256: 'a'.repeat(64), capacity: 4, tickMs: 600_000,
      overrides: [{ template: ID, version: '1', min: 1, max: 1 }, { template: UNBUILT, version: '1', min: 1, max: 1 }],
      log: { info: () => undefined, warn: (fields: Record<string, unknown>, msg: string) => { warnings.push({ fields, msg }); } } as never,
    });
  });

  after(async () => {
    await keeper?.stop();
    for (const c of await docker.listContainers({ all: true, filters: { label: [`${LABELS.host}=${hostId}`] } })) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    for (const tag of [`arbiter-test/${ID}:1`, `arbiter-test/${ID}-scorer:1`]) await docker.getImage(tag).remove({ force: true }).catch(() => undefined);
    if (root) rmSync(root, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  /** This host's entries under their pooled names, running: container ids. */
  async function ready(): Promise<string[]> {
    const found = await docker.listContainers({ all: true, filters: { label: [LABELS.pool, `${LABELS.host}=${hostId}`] } });
    return found.filter((c) => c.State === 'running' && (c.Names[0] ?? '').replace(/^\//, '') === entryPrefix(c.Labels[LABELS.pool]!, c.Labels[LABELS.poolEntry]!)).map((c) => c.Id).sort();
  }

  it('fills the pool of the built template and skips the one whose images are not built', { timeout: 120_000 }, async () => {
    keeper.start();
    await keeper.settle();
    const status = keeper.status();
    assert.deepEqual(status.map((s) => [s.template, s.ready]), [[`${ID}@1`, 1]]);
    assert.equal(keeper.keeps?.(status[0]!.key), true);
    // What a launch asks before its images are read, to list the entries beside them.
    assert.equal(keeper.keepsTemplate?.(pinTemplate({ id: ID, version: '1' }, root).digest), true);
    assert.equal(keeper.keepsTemplate?.(pinTemplate({ id: UNBUILT, version: '1' }, root).digest), false);
    assert.equal((await ready()).length, 1);
    assert.ok(warnings.some((w) => w.msg.startsWith('pool: template skipped') && w.fields.template === `${UNBUILT}@1`), JSON.stringify(warnings));
  });

  it('a pass whose image lookup the engine does not answer changes nothing: the entry is kept, and a launch still looks for it', { timeout: 120_000 }, async () => {
    const [key] = keeper.status().map((s) => s.key);
    const before = await ready();
    down = true;
    try {
      await keeper.settle();
    } finally {
      down = false;
    }
    assert.equal(keeper.keeps?.(key!), true, 'the pool is still kept: a launch looks for an entry');
    assert.deepEqual(await ready(), before, 'the same entry, not drained');
    assert.ok(warnings.some((w) => w.msg === 'pool: could not work out the pools to keep' && /no-engine\.sock|ENOENT|ECONNREFUSED/.test(String(w.fields.err))), JSON.stringify(warnings));
    await keeper.settle();
    assert.deepEqual(await ready(), before, 'the next pass keeps it too');
    assert.deepEqual(keeper.status().map((s) => [s.key, s.ready]), [[key, 1]]);
  });
});
