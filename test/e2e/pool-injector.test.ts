// The injector a warm pool starts in each entry ahead of its claim (activities/scenario-injection.ts,
// workers/pool-keeper.ts), on the real engine with pooled-flag@1's hardened container: a claim
// writes the scenario's identity and flag through it, and its process is gone after; one whose
// connection dropped first (its host worker died) wrote nothing and the claim writes through an exec
// of its own; one whose input stops short writes only whole files and says so by its exit code.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import Docker from 'dockerode';
import { podMembers, type PodMember } from '../../activities/container-spec.ts';
import { injectScenario, primeInjector } from '../../activities/scenario-injection.ts';
import { execInContainer } from '../../infra/container-access.ts';
import { injections } from '../../infra/metrics.ts';
import { loadTemplate } from '../../infra/template.ts';
import { docker, waitFor } from '../support/harness.ts';
import { startDockerGate } from '../support/docker-gate.ts';

const template = loadTemplate({ id: 'pooled-flag', version: '1' });
const TEMPLATE = 'pooled-flag@1';

async function injected(how: 'primed' | 'exec'): Promise<number> {
  return (await injections.get()).values.find((v) => v.labels.template === TEMPLATE && v.labels.how === how)?.value ?? 0;
}

describe('warm pools: the injector started ahead of a claim', () => {
  let storageDir: string;
  const made: Docker.Container[] = [];
  before(() => {
    storageDir = mkdtempSync(join(tmpdir(), 'arbiter-test-injector-'));
  });
  after(async () => {
    for (const c of made) await c.remove({ force: true }).catch(() => undefined);
    rmSync(storageDir, { recursive: true, force: true });
  });

  /** A running container of pooled-flag@1 as a launch makes it, hardening and all. */
  async function container(): Promise<{ scenarioId: string; member: PodMember; c: Docker.Container; id: string }> {
    const scenarioId = `scn-${randomUUID()}`;
    const [member] = podMembers({ scenarioId, tenant: 'acme', template, limits: { ...template.limits }, env: [], hostId: 'injector-test' });
    const c = await docker.createContainer(member!.spec);
    made.push(c);
    await c.start();
    return { scenarioId, member: member!, c, id: (await c.inspect()).Id };
  }
  const sh = async (c: Docker.Container, script: string) => execInContainer(c, { cmd: ['/bin/sh', '-c', script], stdin: Buffer.alloc(0), cwd: '/', env: {}, user: '1000:1000', timeoutSeconds: 30 }, 65536);
  /** Whether any process the engine started by exec in the container still runs. */
  const execsRunning = async (c: Docker.Container) => {
    const ids = (await c.inspect()).ExecIDs ?? [];
    const states = await Promise.all(ids.map(async (id) => (await docker.getExec(id).inspect()).Running));
    return states.some(Boolean);
  };
  const inject = (s: { scenarioId: string; member: PodMember; id: string }, primed: ReturnType<typeof primeInjector> extends Promise<infer T> ? T | undefined : never) => injectScenario(docker, {
    storageDir, scenarioId: s.scenarioId, tenant: 'acme', subject: 'sub-1', template, members: [s.member],
    pooled: { key: 'k', entry: 'e' }, claimMs: 1, containers: [{ name: s.member.containerName, id: s.id }],
    primed: async (id) => (id === s.id ? primed : undefined),
  });

  it('a claim writes identity and flag through the primed process, which is gone after', async () => {
    const s = await container();
    const primed = await primeInjector(docker, s.member);
    assert.equal(await execsRunning(s.c), true, 'the primed injector waits in the container');
    const before = { primed: await injected('primed'), exec: await injected('exec') };
    const record = await inject(s, primed);
    assert.equal(await injected('primed'), before.primed + 1);
    assert.equal(await injected('exec'), before.exec, 'no exec of its own');
    const flag = await sh(s.c, 'cat /work/.arbiter/flag; stat -c "%a %u" /work/.arbiter/flag; cat /work/.arbiter/scenario.json');
    assert.equal(flag.exitCode, 0, flag.stderr.toString());
    const [value, mode, identity] = flag.stdout.toString().split('\n');
    assert.equal(value, record.injected.flag?.value);
    assert.equal(mode, '400 1000');
    assert.deepEqual(JSON.parse(identity!), { scenarioId: s.scenarioId, tenant: 'acme', subject: 'sub-1' });
    // Its answer was its last line; the engine records its exit a moment after.
    await waitFor('nothing of the injector left running for the subject to find', async () => ((await execsRunning(s.c)) ? undefined : true));
  });

  it('the injector\'s closing line is its answer: the engine is asked for no exit code, unless the line is missing', async () => {
    const s = await container();
    const dir = mkdtempSync(join(tmpdir(), 'arbiter-gate-'));
    // Passes everything through, and notes each exec inspect the host sends.
    const inspects: string[] = [];
    const gate = await startDockerGate({
      socket: join(dir, 'engine.sock'),
      engineSocket: process.env.DOCKER_SOCKET ?? '/var/run/docker.sock',
      hold: (method, url) => {
        if (method === 'GET' && /\/exec\/[0-9a-f]+\/json/.test(url)) inspects.push(url);
        return false;
      },
    });
    try {
      const gated = new Docker({ socketPath: gate.socket });
      const record = await injectScenario(gated, {
        storageDir, scenarioId: s.scenarioId, tenant: 'acme', subject: 'sub-1', template, members: [s.member],
        pooled: { key: 'k', entry: 'e' }, claimMs: 1, containers: [{ name: s.member.containerName, id: s.id }],
        primed: async () => primeInjector(gated, s.member),
      });
      assert.deepEqual(inspects, [], 'no exec inspect');
      assert.equal((await sh(s.c, 'cat /work/.arbiter/flag')).stdout.toString().trim(), record.injected.flag?.value);
      // Cut short, it prints no closing line: its exit code comes from the engine.
      const cut = await (await primeInjector(gated, s.member)).finish(Buffer.from('6 0377 /work/d\nwhole\n'), 30);
      assert.equal(cut.exitCode, 75);
      assert.ok(inspects.length >= 1, 'the engine was asked');
    } finally {
      await gate.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an identity outside ASCII is written escaped, as the same JSON value', async () => {
    const s = await container();
    const subject = 'sübject-✓ "quoted" \\ back';
    await injectScenario(docker, {
      storageDir, scenarioId: s.scenarioId, tenant: 'acmé', subject, template, members: [s.member],
      pooled: undefined, claimMs: 1, containers: [{ name: s.member.containerName, id: s.id }],
    });
    const read = await sh(s.c, 'cat /work/.arbiter/scenario.json');
    assert.equal(read.exitCode, 0, read.stderr.toString());
    assert.match(read.stdout.toString(), /^[\x20-\x7e]*\n$/, 'one line of printable ASCII');
    assert.deepEqual(JSON.parse(read.stdout.toString()), { scenarioId: s.scenarioId, tenant: 'acmé', subject });
  });

  it('a primed process whose connection dropped (its worker died) writes nothing; the claim writes through an exec of its own', async () => {
    const s = await container();
    const primed = await primeInjector(docker, s.member);
    primed.abandon();
    await waitFor('the abandoned injector to exit', async () => ((await execsRunning(s.c)) ? undefined : true));
    const none = await sh(s.c, 'ls -A /work');
    assert.equal(none.stdout.toString(), '', 'it wrote nothing on the way out');
    const before = { primed: await injected('primed'), exec: await injected('exec') };
    const record = await inject(s, primed);
    assert.equal(await injected('exec'), before.exec + 1);
    assert.equal(await injected('primed'), before.primed);
    assert.equal((await sh(s.c, 'cat /work/.arbiter/flag')).stdout.toString().trim(), record.injected.flag?.value);
  });

  it('input cut short writes only the whole files before the cut: exit 76 for a file cut mid-way, 75 for a missing end line', async () => {
    const s = await container();
    const primed = await primeInjector(docker, s.member);
    // One whole file, then a second announced at 40 bytes of which only 5 come, and no "." line.
    const r = await primed.finish(Buffer.from('6 0377 /work/a\nwhole\n40 0377 /work/b\nhalf-'), 30);
    assert.equal(r.exitCode, 76);
    const left = await sh(s.c, 'cat /work/a; ls -A /work');
    assert.equal(left.stdout.toString(), 'whole\na\n', 'the whole file is there, the cut one is not, nor its temporary');
    const again = await primeInjector(docker, s.member);
    const cut = await again.finish(Buffer.from('6 0377 /work/c\nwhole\n'), 30);
    assert.equal(cut.exitCode, 75, 'no end line: it says it was cut off');
    assert.equal((await sh(s.c, 'cat /work/c')).stdout.toString(), 'whole\n');
  });
});
