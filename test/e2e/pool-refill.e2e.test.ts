// A launch that fails after its claim still asks its pool for a refill. On the real engine and dev
// server: a copy of pooled-flag@1 whose flag goes into a folder its own service made read-only,
// so the injection after the claim fails every time (the primed injector, then a fresh one). The
// keeper's own timer is ten minutes here, and the claimed container's exit asks nothing of it
// (it is no longer pooled): a pool back at its min within the test's wait was refilled because the
// failed launch asked. The claimed container is removed with the scenario, and never pooled again.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LABELS } from '../../activities/container-spec.ts';
import { entryPrefix } from '../../activities/pool/pool-logic.ts';
import type { ClaimRecord } from '../../activities/scenario-injection.ts';
import { scenarioContainerName } from '../../contract/containers.ts';
import { containersOf, docker, waitFor } from '../support/harness.ts';
import { copyPooledFlag, stopPoolTest } from '../support/templates.ts';
import { startStack, type Stack } from '../support/stack.ts';

const ID = 'pool-refill-e2e';
const TEMPLATE = `${ID}@1`;

interface Pooled { entry: string; id: string }

describe('warm pools: a launch that fails after its claim asks for the refill', () => {
  let stack: Stack;
  let root: string;
  before(async () => {
    // Its flag goes into a folder its own service made read-only.
    root = await copyPooledFlag(ID, {
      edit: (t) => {
        (t.image as Record<string, unknown>).command = ['/bin/sh', '-c', 'mkdir -p /work/locked && chmod 500 /work/locked && exec /bin/sh /opt/pooled-flag/run.sh'];
        t.readiness = { command: ['/bin/sh', '-c', 'test -d /work/locked'], timeoutSeconds: 10 };
        t.inject = { identity: '/work/.arbiter/scenario.json', flag: { path: '/work/locked/flag' } };
      },
    });
    stack = await startStack({ templatesDir: root, env: { ARBITER_POOLS: `${TEMPLATE}=1:1` }, poolTickMs: 600_000 });
  });
  after(() => stopPoolTest(stack, ID, root));

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
