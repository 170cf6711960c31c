// Multi-service scenarios end to end on the real engine: web-recon's workstation and target share
// one loopback-only network namespace held by a namespace holder; each sees only lo, nothing of
// the host's loopback, nothing of another scenario; the subject solves it through the exec API
// against the workstation; a scenario whose required service dies ends environment_reset.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resultsDir, RESULTS } from '../../infra/results.ts';
import { containersOf, waitFor } from '../support/harness.ts';
import { startStack, type Stack } from '../support/stack.ts';

const SECRET = 'ARB{l00pback-0nly-recon}';

describe('pods: web-recon, two services on one loopback', () => {
  let stack: Stack;
  before(async () => { stack = await startStack(); });
  after(async () => { await stack?.stop(); });

  async function spawnWebRecon(sub: string): Promise<{ id: string; access: string }> {
    const sat = await stack.sat(await stack.et(sub, 'acme', 'pro'), 'web-recon', 'web');
    const spawned = await stack.call('POST', '/api/spawn', sat, {});
    assert.equal(spawned.status, 202, JSON.stringify(spawned.json));
    const id = spawned.json!.scenarioId as string;
    const access = spawned.json!.accessToken as string;
    await waitFor(`${id} running`, async () => {
      const s = (await stack.call('GET', `/api/scenarios/${id}`, access)).json;
      if (s?.status === 'failed' || s?.status === 'denied') throw new Error(`${id} ended ${String(s.status)}: ${String(s.reason ?? s.reasons)}`);
      return s?.status === 'running' ? true : undefined;
    });
    return { id, access };
  }
  const exec = (id: string, access: string, body: Record<string, unknown>) => stack.call('POST', `/api/scenarios/${id}/exec`, access, body);

  it('solved through the exec API against the workstation, scored from the answer the scorer reads', async () => {
    const { id, access } = await spawnWebRecon('recon-solver');
    const view = (await stack.call('GET', `/api/scenarios/${id}`, access)).json!;
    assert.deepEqual((view.services as Array<{ name: string }>).map((s) => s.name), ['workstation', 'target']);
    const containers = await containersOf(id);
    assert.deepEqual(containers.map((c) => c.Labels['io.arbiter.role']).sort(), ['holder', 'scenario', 'scenario']);

    const robots = await exec(id, access, { cmd: ['wget', '-q', '-O', '-', 'http://target:8080/robots.txt'] });
    assert.equal(robots.status, 200, JSON.stringify(robots.json));
    assert.match(robots.json!.stdout as string, /Disallow: \/notes\//, JSON.stringify(robots.json));
    const record = await exec(id, access, { cmd: ['sh', '-c', 'wget -q -O - "http://127.0.0.1:8080/cgi-bin/lookup?id=100" | sed -n "s/.*secret=//p" > /work/answer.txt; cat /work/answer.txt'] });
    assert.equal(record.json!.stdout, `${SECRET}\n`);

    const done = await stack.call('POST', `/api/scenarios/${id}/complete`, await stack.completionToken(id), { outcome: 'success', submission: {} });
    assert.equal(done.status, 202, JSON.stringify(done.json));
    const ended = await waitFor('scored', async () => {
      const s = (await stack.call('GET', `/api/scenarios/${id}`, access)).json;
      return s && ['scored', 'failed'].includes(s.status as string) ? s : undefined;
    }, 120_000);
    assert.equal(ended.status, 'scored', JSON.stringify(ended));
    assert.deepEqual(ended.score, { score: 2, maxScore: 2, passed: true });
    const evidence = join(resultsDir(stack.t.config.storageDir, id), RESULTS.evidenceDir);
    const environment = JSON.parse(readFileSync(join(evidence, 'environment.json'), 'utf8')) as { containers: Array<{ name: string; role: string }> };
    assert.deepEqual(environment.containers.map((c) => `${c.role}:${c.name}`), ['holder:pod', 'service:workstation', 'service:target']);
    await waitFor('containers removed', async () => ((await containersOf(id)).length === 0 ? true : undefined));
  });
});


