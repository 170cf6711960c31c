// gVisor end to end on the real engine (runsc registered by scripts/bootstrap.sh): a subject on
// the "sandboxed" plan runs hello-gvisor under runsc, meets gVisor's kernel, is scored and the
// verdict verifies; the same plan is refused runc; a fork bomb meets the per-sandbox nproc cap
// and the scenario runs on; an exec that outlives its timeout, and a terminal whose client went
// away or whose host restarted, are killed from inside the sandbox (the host cannot reach them
// there); a plan that allows both runtimes runs hello-gvisor too.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { openTty } from '../../infra/container-access.ts';
import { resultsDir, RESULTS } from '../../infra/results.ts';
import { endOrphanTerminals } from '../../workers/access-server.ts';
import { containersOf, docker, REPO, waitFor } from '../support/harness.ts';
import { startStack, type Stack } from '../support/stack.ts';

const run = promisify(execFile);

describe('gVisor (runsc): hello-gvisor on the sandboxed plan', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
    const runtimes = (await docker.info() as { Runtimes?: Record<string, unknown> }).Runtimes ?? {};
    assert.ok('runsc' in runtimes, `the engine lists no runtime runsc (${Object.keys(runtimes).join(', ')}): run scripts/bootstrap.sh`);
  });
  after(async () => { await stack?.stop(); });

  async function spawnRunning(sub: string, plan: string, template = 'hello-gvisor'): Promise<{ id: string; access: string; containerId: string }> {
    const sat = await stack.sat(await stack.et(sub, 'acme', plan), template, 'intro');
    const spawned = await stack.call('POST', '/api/spawn', sat, {});
    assert.equal(spawned.status, 202, JSON.stringify(spawned.json));
    const id = spawned.json!.scenarioId as string;
    const access = spawned.json!.accessToken as string;
    await waitFor(`${id} running`, async () => {
      const s = (await stack.call('GET', `/api/scenarios/${id}`, access)).json;
      if (s?.status === 'failed' || s?.status === 'denied') throw new Error(`${id} ended ${String(s.status)}: ${String(s.reason ?? s.reasons)}`);
      return s?.status === 'running' ? true : undefined;
    });
    const containers = await containersOf(id);
    assert.equal(containers.length, 1, 'one service, no namespace holder');
    return { id, access, containerId: containers[0]!.Id };
  }
  const exec = (id: string, access: string, body: Record<string, unknown>) => stack.call('POST', `/api/scenarios/${id}/exec`, access, body);
  const statusOf = async (id: string, access: string) => (await stack.call('GET', `/api/scenarios/${id}`, access)).json?.status;

  it('runs under runsc, meets gVisor\'s kernel, is scored from its evidence and the verdict verifies', async () => {
    const { id, access, containerId } = await spawnRunning('gvisor-solver', 'sandboxed');
    const inspect = await docker.getContainer(containerId).inspect();
    assert.equal(inspect.HostConfig.Runtime, 'runsc');

    const answer = await exec(id, access, { cmd: ['sh', '-c', 'echo hello > /work/answer.txt; dmesg | head -n 1'] });
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    assert.equal(answer.json!.exitCode, 0);
    assert.match(answer.json!.stdout as string, /Starting gVisor/, 'the exec answers from gVisor\'s kernel');

    const done = await stack.call('POST', `/api/scenarios/${id}/complete`, await stack.completionToken(id), { outcome: 'success', submission: { answer: 'hello' } });
    assert.equal(done.status, 202, JSON.stringify(done.json));
    const ended = await waitFor('scored', async () => {
      const s = (await stack.call('GET', `/api/scenarios/${id}`, access)).json;
      return s && ['scored', 'failed'].includes(s.status as string) ? s : undefined;
    }, 120_000);
    assert.equal(ended.status, 'scored', JSON.stringify(ended));
    assert.deepEqual(ended.score, { score: 2, maxScore: 2, passed: true });

    const dir = resultsDir(stack.t.config.storageDir, id);
    const evidence = <T>(name: string) => JSON.parse(readFileSync(join(dir, RESULTS.evidenceDir, name), 'utf8')) as T;
    const observed = evidence<{ observed: boolean; kernel: string; kernelRelease: string; uid: number; interfaces: string[]; rootWritable: boolean; capEff: string; noNewPrivs: number }>('isolation-observed.json');
    assert.equal(observed.observed, true, JSON.stringify(observed));
    assert.equal(observed.kernel, 'gvisor');
    assert.equal(typeof observed.kernelRelease, 'string');
    assert.ok(observed.kernelRelease.length > 0);
    assert.equal(observed.uid, 1000);
    assert.deepEqual(observed.interfaces, ['lo']);
    assert.equal(observed.rootWritable, false);
    assert.equal(observed.capEff, '0000000000000000');
    const engine = evidence<{ runtime: string; pidsLimit?: number | null; ulimits: Array<{ Name: string; Soft: number; Hard: number }>; networkMode: string }>('isolation.json');
    assert.equal(engine.runtime, 'runsc');
    assert.ok(!engine.pidsLimit, `no pids limit under runsc (${String(engine.pidsLimit)})`);
    assert.deepEqual(engine.ulimits.find((u) => u.Name === 'nproc'), { Name: 'nproc', Soft: 32, Hard: 32 }, 'the process cap is the nproc ulimit');
    assert.equal(engine.networkMode, 'none');
    assert.equal(readFileSync(join(dir, RESULTS.evidenceDir, 'files/work/answer.txt'), 'utf8'), 'hello\n', 'collected from inside the sandbox');

    const keys = join(stack.t.config.storageDir, 'keys', 'jwks.json');
    const verified = await run(process.execPath, [join(REPO, 'bin', 'arbiter.js'), 'verify', dir, '--keys', keys], { env: { ...process.env, ARBITER_ENV_FILE: '/nonexistent' } });
    assert.match(verified.stdout, new RegExp(`^verified: ${id} scored score 2/2 `, 'm'), verified.stdout);
    await waitFor('containers removed', async () => ((await containersOf(id)).length === 0 ? true : undefined));
  });

  it('refuses runc on the sandboxed plan: 403 with the policy\'s reason naming the runtime', async () => {
    const sat = await stack.sat(await stack.et('gvisor-runc', 'acme', 'sandboxed'), 'hello', 'intro');
    const r = await stack.call('POST', '/api/spawn', sat, {});
    assert.equal(r.status, 403, JSON.stringify(r.json));
    const error = r.json!.error as { code: string; reasons: string[] };
    assert.equal(error.code, 'policy_denied');
    assert.ok(error.reasons.some((x) => x.includes('"sandboxed"') && x.includes('"runsc"') && x.includes('"runc"')), JSON.stringify(error.reasons));
  });

  it('caps a fork bomb at the nproc ulimit, per sandbox, and the scenario runs on', async (t) => {
    const { id, access, containerId } = await spawnRunning('gvisor-forker', 'sandboxed');
    // Each child holds the exec's stdout until it ends: the answer comes when the last one exits.
    const bomb = await exec(id, access, { cmd: ['sh', '-c', 'i=0; while [ $i -lt 64 ]; do sleep 3 & i=$((i+1)); echo $i; done; wait'], timeoutSeconds: 60 });
    assert.equal(bomb.status, 200, JSON.stringify(bomb.json));
    assert.match(bomb.json!.stderr as string, /can't fork|Resource temporarily unavailable/, 'a fork was refused');
    assert.notEqual(bomb.json!.exitCode, 0);
    const started = (bomb.json!.stdout as string).trim().split('\n').length;
    t.diagnostic(`fork bomb: ${started} children started before a fork was refused`);
    assert.ok(started > 8 && started < 32, `${started} children started, fewer than the nproc cap of 32 (init, the scenario's own processes and the shell count too)`);

    const state = (await docker.getContainer(containerId).inspect()).State;
    assert.equal(state.Running, true);
    assert.equal(state.OOMKilled, false, 'the processes the cap allows fit in the memory limit (each costs gVisor host memory)');
    assert.equal(await statusOf(id, access), 'running');
    const alive = await waitFor('a fork succeeds again once the children ended', async () => {
      const r = await exec(id, access, { cmd: ['sh', '-c', 'echo alive | cat'] });
      return r.json?.exitCode === 0 ? r.json : undefined;
    }, 30_000);
    assert.equal(alive.stdout, 'alive\n');
  });

  it('kills an exec that outlives its timeout from inside the sandbox, with every child it started', async (t) => {
    const { id, access } = await spawnRunning('gvisor-sleeper', 'sandboxed');
    const r = await exec(id, access, { cmd: ['sh', '-c', 'sleep 30 & sleep 30 & wait'], timeoutSeconds: 1 });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json!.timedOut, true);
    assert.equal(r.json!.exitCode, null);
    t.diagnostic(`a 1 s timeout on sleep 30 answered after ${String(r.json!.durationMs)} ms`);
    // Without the kill from inside, the host's kill missed and the call answered when sleep ended.
    assert.ok((r.json!.durationMs as number) < 10_000, `answered when the timeout killed it, not when sleep ended (${String(r.json!.durationMs)} ms)`);
    // `docker top` lists host processes under runsc (it maps the sandbox's own PIDs onto the
    // host's), so the sandbox is asked itself.
    const ps = await exec(id, access, { cmd: ['ps', '-o', 'pid,args'] });
    assert.equal(ps.status, 200);
    assert.doesNotMatch(ps.json!.stdout as string, /sleep 30/, 'no process of the timed-out command is left');
    assert.equal(await statusOf(id, access), 'running');
  });

  it('ends a terminal\'s shell and what it started when its client goes away, and a predecessor host\'s orphaned shell at a restart', async () => {
    const { id, access, containerId } = await spawnRunning('gvisor-tty', 'sandboxed');
    const processes = async () => ((await exec(id, access, { cmd: ['ps', '-o', 'args'] })).json?.stdout as string).split('\n');
    const left = async () => (await processes()).filter((p) => /^\/bin\/sh -l|^sleep 300/.test(p));

    const ws = new WebSocket(`${stack.base.replace(/^http/, 'ws')}/api/scenarios/${id}/terminal`);
    let out = '';
    ws.on('message', (data: Buffer, binary: boolean) => {
      if (binary) out += data.toString('utf8');
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.send(JSON.stringify({ token: access }));
    ws.send(Buffer.from('sleep 300 & echo started\n'), { binary: true });
    await waitFor('the terminal answered', async () => (/\nstarted\r?\n/.test(out) ? true : undefined), 20_000);
    assert.equal((await left()).length, 2, 'the shell and its job run in the sandbox');
    ws.terminate();
    await waitFor('the session\'s shell and its job gone from the sandbox', async () => ((await left()).length === 0 ? true : undefined), 15_000);

    // A host killed mid-session leaves its shell running (the engine keeps a TTY exec whose
    // attach connection dropped): the next start of the host ends it, under gVisor from inside.
    const orphan = await openTty(docker.getContainer(containerId), { cmd: ['/bin/sh', '-l'], cwd: '/work', user: '1000:1000', cols: 80, rows: 24, runtime: 'runsc' });
    orphan.stream.write('sleep 300 &\n');
    await waitFor('the orphan-to-be runs', async () => ((await left()).length === 2 ? true : undefined), 15_000);
    orphan.stream.destroy();
    const ended = await endOrphanTerminals(docker, stack.t.config.hostId, { info: () => undefined, warn: () => undefined });
    assert.equal(ended, 1);
    await waitFor('the orphaned shell and its job gone', async () => ((await left()).length === 0 ? true : undefined), 15_000);
    assert.equal(await statusOf(id, access), 'running');
  });

  it('runs hello-gvisor on the pro plan too, which allows both runtimes', async () => {
    const { containerId } = await spawnRunning('gvisor-pro', 'pro');
    assert.equal((await docker.getContainer(containerId).inspect()).HostConfig.Runtime, 'runsc');
  });
});
