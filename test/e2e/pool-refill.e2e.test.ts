// A launch that fails after its claim still asks its pool for a refill. On the real engine and dev
// server: a copy of pooled-flag@1 whose flag goes into a folder its own service made read-only,
// so the injection after the claim fails every time (the primed injector, then a fresh one). The
// keeper's own timer is ten minutes here, and the claimed container's exit asks nothing of it
// (it is no longer pooled): a pool back at its min within the test's wait was refilled because the
// failed launch asked. The claimed container is removed with the scenario, and never pooled again.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LABELS } from '../../activities/container-spec.ts';
import { entryPrefix } from '../../activities/pool/pool-logic.ts';
import type { ClaimRecord } from '../../activities/scenario-injection.ts';
import { scenarioContainerName } from '../../contract/containers.ts';
import { buildTemplateImages } from '../../infra/images.ts';
import { containersOf, docker, REPO, waitFor } from '../support/harness.ts';
import { startStack, type Stack } from '../support/stack.ts';

const ID = 'pool-refill-e2e';
const TEMPLATE = `${ID}@1`;

/** pooled-flag@1 under this test's id and tags, its flag folder made read-only by its service. */
function copyTemplate(): string {
  const root = mkdtempSync(join(tmpdir(), 'arbiter-test-pool-refill-'));
  const dir = join(root, ID, '1');
  cpSync(join(REPO, 'templates', 'pooled-flag', '1'), dir, { recursive: true });
  const file = join(dir, 'template.json');
  const t = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>>;
  (t as Record<string, unknown>).id = ID;
  t.image!.tag = `arbiter-test/${ID}:1`;
  t.image!.command = ['/bin/sh', '-c', 'mkdir -p /work/locked && chmod 500 /work/locked && exec /bin/sh /opt/pooled-flag/run.sh'];
  t.scorer!.tag = `arbiter-test/${ID}-scorer:1`;
  t.readiness = { command: ['/bin/sh', '-c', 'test -d /work/locked'], timeoutSeconds: 10 };
  t.inject = { identity: '/work/.arbiter/scenario.json', flag: { path: '/work/locked/flag' } };
  writeFileSync(file, JSON.stringify(t, null, 2));
  return root;
}

interface Pooled { entry: string; id: string }

describe('warm pools: a launch that fails after its claim asks for the refill', () => {
  let stack: Stack;
  let root: string;
  before(async () => {
    root = copyTemplate();
    await buildTemplateImages(docker, { templatesDir: root });
    stack = await startStack({ templatesDir: root, env: { ARBITER_POOLS: `${TEMPLATE}=1:1` }, poolTickMs: 600_000 });
  });
  after(async () => {
    await stack?.host.pools.stop();
    const hostId = stack?.t.config.hostId;
    await stack?.stop();
    // The pool's entries outlive the worker by design: this test's host id is never used again.
    if (hostId) for (const c of await docker.listContainers({ all: true, filters: { label: [`${LABELS.host}=${hostId}`] } })) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    for (const tag of [`arbiter-test/${ID}:1`, `arbiter-test/${ID}-scorer:1`]) await docker.getImage(tag).remove({ force: true }).catch(() => undefined);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** The host's ready entries of this test's template: running, under their pooled name. */
  async function pooled(): Promise<Pooled[]> {
    const found = await docker.listContainers({ all: true, filters: { label: [LABELS.pool, `${LABELS.host}=${stack.t.config.hostId}`, `${LABELS.template}=${TEMPLATE}`] } });
    return found.flatMap((c) => {
      const name = (c.Names[0] ?? '').replace(/^\//, '');
      const entry = c.Labels[LABELS.poolEntry]!;
      return c.State === 'running' && name === entryPrefix(c.Labels[LABELS.pool]!, entry) ? [{ entry, id: c.Id }] : [];
    });
  }

  it('the injection after the claim fails, the scenario fails with the reason, its container is removed, and the pool is back at its min', { timeout: 180_000 }, async () => {
    const [warm] = await waitFor('the pool filled to its min', async () => {
      const p = await pooled();
      return p.length === 1 ? p : undefined;
    }, 90_000);

    const sat = await stack.sat(await stack.et('refill-a', 'acme', 'free'), ID, 'intro');
    const r = await stack.call('POST', '/api/spawn', sat, {});
    assert.equal(r.status, 202, JSON.stringify(r.json));
    const id = r.json!.scenarioId as string;
    const access = r.json!.accessToken as string;
    const ended = await waitFor(`${id} ended`, async () => {
      const v = (await stack.call('GET', `/api/scenarios/${id}`, access)).json;
      return v && ['failed', 'scored', 'cancelled', 'timed_out', 'denied'].includes(v.status as string) ? v : undefined;
    }, 120_000);
    assert.equal(ended.status, 'failed', JSON.stringify(ended));
    // The script's exit 76: the file could not be written where the template asked.
    assert.equal(ended.reason, `could not write /work/.arbiter/scenario.json, /work/locked/flag into ${scenarioContainerName(id)} (exit 76)`);

    // It was the pooled entry that the launch claimed.
    const claim = JSON.parse(readFileSync(join(stack.t.config.storageDir, 'scenarios', id, 'claim.json'), 'utf8')) as ClaimRecord;
    assert.equal(claim.pooled, true);
    assert.equal(claim.entry, warm!.entry);
    assert.equal(claim.containers[0]!.id, warm!.id);

    // Refilled without the keeper's timer: a new entry, not the claimed one back.
    const [fresh] = await waitFor('the pool refilled to its min', async () => {
      const p = await pooled();
      return p.length === 1 && p[0]!.entry !== warm!.entry ? p : undefined;
    }, 90_000);
    assert.notEqual(fresh!.id, warm!.id);

    // Nothing of the scenario is left, under its name or its label, and the claimed container is gone.
    await waitFor('the claimed container removed', async () => {
      const left = [...await containersOf(id), ...await docker.listContainers({ all: true, filters: { name: [scenarioContainerName(id)] } })];
      return left.length === 0 ? true : undefined;
    }, 30_000);
    await assert.rejects(docker.getContainer(warm!.id).inspect(), (err: { statusCode?: number }) => err.statusCode === 404);
  });
});
