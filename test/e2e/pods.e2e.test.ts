// Multi-service scenarios end to end on the real engine: web-recon's workstation and target share
// one loopback-only network namespace held by a namespace holder; each sees only lo, nothing of
// the host's loopback, nothing of another scenario; the subject solves it through the exec API
// against the workstation; a scenario whose required service dies ends environment_reset, and
// says whether the kernel's OOM killer did it; an OOM kill of the subject's own command does not
// end it, and is in its transcript.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { resultsDir, RESULTS } from '../../infra/results.ts';
import { transcriptDir } from '../../infra/transcript-log.ts';
import { verifyChainText, type AuditEntry } from '../../lib/audit-chain.ts';
import { TRANSCRIPT_FILE } from '../../lib/transcript.ts';
import { quotaWorkflowId } from '../../lib/entity-ids.ts';
import { quotaQuery } from '../../contract/quota.ts';
import { containersOf, docker, REPO, waitFor } from '../support/harness.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { buildTestTemplates } from '../support/templates.ts';

const SECRET = 'ARB{l00pback-0nly-recon}';
const TENANT = 'acme';
/** A shell command that holds far more than any service's memory limit (200 MB in one variable). */
const HOG = 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo "kept ${#x} bytes"';

type View = Record<string, unknown>;
interface Scenario { id: string; access: string }
interface ContainerEnd { name: string; role: string; running?: boolean; exitCode?: number; oomKilled?: boolean; missing?: boolean }

/** The stack's scenario helpers, for one stack. */
function helpers(stack: () => Stack) {
  async function spawn(sub: string, template: string, track: string): Promise<Scenario> {
    const s = stack();
    const sat = await s.sat(await s.et(sub, TENANT, 'pro'), template, track);
    const spawned = await s.call('POST', '/api/spawn', sat, {});
    assert.equal(spawned.status, 202, JSON.stringify(spawned.json));
    const id = spawned.json!.scenarioId as string;
    const access = spawned.json!.accessToken as string;
    await waitFor(`${id} running`, async () => {
      const v = (await s.call('GET', `/api/scenarios/${id}`, access)).json;
      if (v?.status === 'failed' || v?.status === 'denied') throw new Error(`${id} ended ${String(v.status)}: ${String(v.reason ?? v.reasons)}`);
      return v?.status === 'running' ? true : undefined;
    });
    return { id, access };
  }
  const view = async ({ id, access }: Scenario): Promise<View> => (await stack().call('GET', `/api/scenarios/${id}`, access)).json!;
  const exec = ({ id, access }: Scenario, body: Record<string, unknown>) => stack().call('POST', `/api/scenarios/${id}/exec`, access, body);
  /** Waits for the scenario to end, however it ends. */
  const ended = (s: Scenario, timeoutMs = 60_000) => waitFor(`${s.id} ended`, async () => {
    const v = await view(s);
    return ['scored', 'failed', 'timed_out', 'cancelled', 'denied'].includes(v.status as string) ? v : undefined;
  }, timeoutMs);
  const evidenceDir = (id: string) => join(resultsDir(stack().t.config.storageDir, id), RESULTS.evidenceDir);
  const readJson = <T>(file: string) => JSON.parse(readFileSync(file, 'utf8')) as T;
  const chain = (file: string): AuditEntry[] => {
    if (!existsSync(file)) return [];
    const text = readFileSync(file, 'utf8');
    assert.ok(verifyChainText(text).ok, `${file} is an unbroken chain`);
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEntry);
  };
  /** The scenario's open transcript (while it runs; evidence/transcript.jsonl once it ended). */
  const transcript = (id: string) => chain(join(transcriptDir(stack().t.config.storageDir, id), TRANSCRIPT_FILE));
  /** What the subject's quota entity holds: the scenario's lease must go when the scenario ends. */
  const leases = async (sub: string) => Object.keys((await stack().env.client.workflow.getHandle(quotaWorkflowId(TENANT, sub)).query(quotaQuery)).leases);
  return { spawn, view, exec, ended, evidenceDir, readJson, chain, transcript, leases };
}

/** A connection to 127.0.0.1:port from inside a service: refused, and no HTTP answer of any kind. */
function assertRefused(r: { status: number; json: View | undefined }, what: string): void {
  assert.equal(r.status, 200, `${what}: ${JSON.stringify(r.json)}`);
  assert.notEqual(r.json!.exitCode, 0, `${what}: wget failed (${JSON.stringify(r.json)})`);
  assert.match(r.json!.stderr as string, /Connection refused/, `${what}: ${JSON.stringify(r.json)}`);
  // wget -S prints the server's status line and headers: nothing answered at all.
  assert.doesNotMatch(`${r.json!.stdout as string}${r.json!.stderr as string}`, /HTTP\/\d/, `${what}: got an HTTP answer`);
}

describe('pods: web-recon, two services on one loopback', () => {
  let stack: Stack;
  before(async () => { stack = await startStack(); });
  after(async () => { await stack?.stop(); });
  const { spawn, view, exec, ended, evidenceDir, readJson, chain, transcript, leases } = helpers(() => stack);
  const spawnWebRecon = (sub: string) => spawn(sub, 'web-recon', 'web');
  /**
   * wget of http://127.0.0.1:<port><path> from a service, the server's headers (-S) on stderr. No
   * -T: this busybox's wget (1.35, Debian's static build) segfaults with it; a refused connection
   * fails at once anyway.
   */
  const fetchFrom = (s: Scenario, service: string, port: number | string, path: string) =>
    exec(s, { service, cmd: ['wget', '-S', '-O', '-', `http://127.0.0.1:${port}${path}`] });

  it('solved through the exec API against the workstation, scored from the answer the scorer reads', async () => {
    const s = await spawnWebRecon('recon-solver');
    const { id } = s;
    const v = await view(s);
    assert.deepEqual((v.services as Array<{ name: string }>).map((x) => x.name), ['workstation', 'target']);
    const containers = await containersOf(id);
    assert.deepEqual(containers.map((c) => c.Labels['io.arbiter.role']).sort(), ['holder', 'scenario', 'scenario']);

    const robots = await exec(s, { cmd: ['wget', '-q', '-O', '-', 'http://target:8080/robots.txt'] });
    assert.equal(robots.status, 200, JSON.stringify(robots.json));
    assert.match(robots.json!.stdout as string, /Disallow: \/notes\//, JSON.stringify(robots.json));
    const record = await exec(s, { cmd: ['sh', '-c', 'wget -q -O - "http://127.0.0.1:8080/cgi-bin/lookup?id=100" | sed -n "s/.*secret=//p" > /work/answer.txt; cat /work/answer.txt'] });
    assert.equal(record.json!.stdout, `${SECRET}\n`);

    const done = await stack.call('POST', `/api/scenarios/${id}/complete`, await stack.completionToken(id), { outcome: 'success', submission: {} });
    assert.equal(done.status, 202, JSON.stringify(done.json));
    const end = await ended(s, 120_000);
    assert.equal(end.status, 'scored', JSON.stringify(end));
    assert.deepEqual(end.score, { score: 2, maxScore: 2, passed: true });
    const environment = readJson<{ containers: ContainerEnd[] }>(join(evidenceDir(id), 'environment.json'));
    assert.deepEqual(environment.containers.map((c) => `${c.role}:${c.name}`), ['holder:pod', 'service:workstation', 'service:target']);
    await waitFor('containers removed', async () => ((await containersOf(id)).length === 0 ? true : undefined));
  });

  it('a terminal opens in the service its first frame names, and its session is recorded with that service', async () => {
    const s = await spawnWebRecon('recon-terminal');
    const ws = new WebSocket(`${stack.base.replace(/^http/, 'ws')}/api/scenarios/${s.id}/terminal`);
    let out = '';
    let exit: unknown;
    ws.on('message', (data: Buffer, binary: boolean) => {
      if (binary) out += data.toString('utf8');
      else exit = (JSON.parse(data.toString('utf8')) as { exit?: unknown }).exit ?? exit;
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.send(JSON.stringify({ token: s.access, service: 'target' }));
    // Only the target has the web root in its image: the shell runs there, not on the workstation.
    ws.send(Buffer.from('ls /opt/target/www/cgi-bin; exit 7\n'), { binary: true });
    await waitFor('the shell exited', async () => (exit !== undefined ? true : undefined), 20_000);
    assert.match(out, /lookup/);
    assert.equal(exit, 7);
    const session = await waitFor('the session is in the transcript', async () => transcript(s.id).find((e) => e.event === 'terminal'), 10_000);
    assert.equal(session.data?.service, 'target');
  });

  it('every service sees only lo and no route, and the API\'s port on 127.0.0.1 is refused there: nothing of the host\'s loopback', async () => {
    const s = await spawnWebRecon('recon-netns');
    const apiPort = new URL(stack.base).port;
    // On the host's loopback the API does answer at that port.
    assert.equal((await fetch(`http://127.0.0.1:${apiPort}/healthz`)).status, 200);
    for (const service of ['workstation', 'target']) {
      const ifaces = await exec(s, { service, cmd: ['ls', '/sys/class/net'] });
      assert.equal(ifaces.status, 200, JSON.stringify(ifaces.json));
      assert.equal(ifaces.json!.stdout, 'lo\n', `${service}: its interfaces`);
      const routes = await exec(s, { service, cmd: ['cat', '/proc/net/route'] });
      const lines = (routes.json!.stdout as string).split('\n').filter(Boolean);
      assert.match(lines[0] ?? '', /^Iface\s+Destination\s+Gateway/, `${service}: the route table's header`);
      assert.deepEqual(lines.slice(1), [], `${service}: no route at all`);
      // The same client reaches what listens on the scenario's own loopback (the target's httpd)...
      const own = await fetchFrom(s, service, 8080, '/robots.txt');
      assert.equal(own.json!.exitCode, 0, `${service}: ${JSON.stringify(own.json)}`);
      assert.match(own.json!.stdout as string, /Disallow: \/notes\//);
      // ...and nothing listens at the API's port there.
      assertRefused(await fetchFrom(s, service, apiPort, '/healthz'), `${service} -> 127.0.0.1:${apiPort} (the API's port)`);
    }
  });

  it('two web-recon scenarios at once: a listener in one is refused from every service of the other, and reached from its sibling', async () => {
    const [a, b] = await Promise.all([spawnWebRecon('recon-a'), spawnWebRecon('recon-b')]);
    // busybox httpd without -f binds, then daemonizes (leaving the exec's process group): the exec returns, it listens on.
    const inB = await exec(b, { service: 'target', cmd: ['httpd', '-p', '127.0.0.1:9123', '-h', '/opt/target/www'] });
    assert.equal(inB.json!.exitCode, 0, JSON.stringify(inB.json));
    const fromB = await fetchFrom(b, 'workstation', 9123, '/robots.txt');
    assert.equal(fromB.json!.exitCode, 0, JSON.stringify(fromB.json));
    assert.match(fromB.json!.stdout as string, /Disallow: \/notes\//);
    for (const service of ['workstation', 'target']) assertRefused(await fetchFrom(a, service, 9123, '/robots.txt'), `A's ${service} -> B's 127.0.0.1:9123`);

    // The other way round: A's workstation listens, A's target reaches it, B's services do not.
    const inA = await exec(a, { service: 'workstation', cmd: ['httpd', '-p', '127.0.0.1:9124', '-h', '/opt/challenge'] });
    assert.equal(inA.json!.exitCode, 0, JSON.stringify(inA.json));
    const fromA = await fetchFrom(a, 'target', 9124, '/README');
    assert.equal(fromA.json!.exitCode, 0, JSON.stringify(fromA.json));
    assert.match(fromA.json!.stdout as string, /^web-recon: an internal web service/);
    for (const service of ['workstation', 'target']) assertRefused(await fetchFrom(b, service, 9124, '/README'), `B's ${service} -> A's 127.0.0.1:9124`);
    // Each still has its own target on 8080, and both still run.
    for (const s of [a, b]) {
      assert.equal((await fetchFrom(s, 'workstation', 8080, '/robots.txt')).json!.exitCode, 0);
      assert.equal((await view(s)).status, 'running');
    }
  });

  it('killing the target\'s main process ends the scenario failed within seconds (environment_reset naming it), with its evidence and audit log, every container removed and the lease released', async () => {
    const sub = 'recon-reset';
    const s = await spawnWebRecon(sub);
    const { id } = s;
    assert.deepEqual(await leases(sub), [id]);
    // docker-init is pid 1 of the target; httpd, the service's main process, is its child.
    const pidof = await exec(s, { service: 'target', cmd: ['pidof', 'httpd'] });
    const pid = (pidof.json!.stdout as string).trim();
    assert.match(pid, /^[0-9]+$/, JSON.stringify(pidof.json));
    assert.notEqual(pid, '1');
    const killedAt = Date.now();
    const kill = await exec(s, { service: 'target', cmd: ['kill', pid] });
    assert.equal(kill.status, 200, JSON.stringify(kill.json));

    const end = await ended(s, 30_000);
    const tookMs = Date.now() - killedAt;
    assert.equal(end.status, 'failed', JSON.stringify(end));
    // SIGTERM: docker-init exits 128 + 15.
    assert.deepEqual(end.reset, { service: 'target', exitCode: 143, oomKilled: false });
    assert.match(end.reason as string, /^environment_reset: service "target"/);
    assert.equal(end.reason, 'environment_reset: service "target" exited (code 143) before completion');
    assert.ok(tookMs < 15_000, `ended ${tookMs} ms after the kill`);

    // Its evidence: how every container ended, and the target's own exit.
    const evidence = evidenceDir(id);
    const environment = readJson<{ containers: ContainerEnd[] }>(join(evidence, 'environment.json'));
    const byName = Object.fromEntries(environment.containers.map((c) => [c.name, c]));
    assert.deepEqual(Object.keys(byName), ['pod', 'workstation', 'target']);
    assert.deepEqual([byName.target!.running, byName.target!.exitCode], [false, 143]);
    assert.equal(byName.workstation!.running, true, 'the workstation was still up when the evidence was taken');
    assert.equal(byName.pod!.running, true, 'so was the namespace holder');
    const exit = readJson<{ running: boolean; exitCode: number }>(join(evidence, 'services', 'target', 'exit.json'));
    assert.deepEqual([exit.running, exit.exitCode], [false, 143]);
    assert.ok(existsSync(join(evidence, 'services', 'target', 'inspect.json')));

    // Its audit log, written as it ends: the exit and the failure with its reason.
    const auditFile = join(resultsDir(stack.t.config.storageDir, id), RESULTS.audit);
    const audit = await waitFor('audit log', async () => (existsSync(auditFile) ? chain(auditFile) : undefined), 10_000);
    const exited = audit.find((e) => e.event === 'container.exited');
    assert.deepEqual(exited?.data, { service: 'target', containerName: `arbiter-${id}-svc-target`, exitCode: 143, oomKilled: false });
    assert.equal(audit.find((e) => e.event === 'status.failed')?.data?.reason, end.reason);

    // Every container gone, the namespace holder included, and the subject's lease given back.
    assert.deepEqual(await containersOf(id), []);
    await waitFor('lease released', async () => ((await leases(sub)).includes(id) ? undefined : true), 10_000);
    assert.equal((await exec(s, { service: 'workstation', cmd: ['true'] })).status, 409, 'no access once it is no longer running');
  });

  it('an OOM kill of a command the subject ran is recorded in the transcript; the scenario goes on and is scored', async () => {
    const s = await spawnWebRecon('recon-oom-exec');
    const { id } = s;
    const hog = await exec(s, { service: 'workstation', cmd: ['sh', '-c', HOG] });
    assert.equal(hog.status, 200, JSON.stringify(hog.json));
    assert.equal(hog.json!.exitCode, 137, `SIGKILLed by the kernel's OOM killer: ${JSON.stringify(hog.json)}`);
    assert.equal(hog.json!.stdout, '');
    const oom = await waitFor('an oom entry in the transcript', async () => transcript(id).find((e) => e.event === 'oom'), 15_000);
    assert.equal(oom.actor, 'container-host');
    assert.deepEqual(oom.data, { service: 'workstation', containerName: `arbiter-${id}` });
    // The workstation's main process was not the one killed: it, and the scenario, run on.
    assert.equal((await docker.getContainer(`arbiter-${id}`).inspect()).State.Running, true);
    assert.equal((await view(s)).status, 'running');
    assert.equal((await exec(s, { cmd: ['echo', 'still here'] })).json!.stdout, 'still here\n');

    const solved = await exec(s, { cmd: ['sh', '-c', 'wget -q -O - "http://target:8080/cgi-bin/lookup?id=100" | sed -n "s/.*secret=//p" > /work/answer.txt'] });
    assert.equal(solved.json!.exitCode, 0, JSON.stringify(solved.json));
    const done = await stack.call('POST', `/api/scenarios/${id}/complete`, await stack.completionToken(id), { outcome: 'success', submission: {} });
    assert.equal(done.status, 202, JSON.stringify(done.json));
    const end = await ended(s, 120_000);
    assert.equal(end.status, 'scored', JSON.stringify(end));
    assert.deepEqual(end.score, { score: 2, maxScore: 2, passed: true });
    assert.equal(end.reset, undefined);
    const kept = chain(join(evidenceDir(id), TRANSCRIPT_FILE));
    // The engine may report one kill as more than one oom event (the cgroup's OOM notification
    // fires each time a task of it hits the limit before the victim's memory is freed): each is kept.
    const kills = kept.filter((e) => e.event === 'oom');
    assert.ok(kills.length >= 1, 'the evidence keeps it');
    for (const e of kills) assert.deepEqual(e.data, { service: 'workstation', containerName: `arbiter-${id}` });
  });

  it('a service stopped after a command the subject ran in it was OOM-killed is not said to be OOM-killed', async () => {
    const s = await spawnWebRecon('recon-oom-then-kill');
    const { id } = s;
    const hog = await exec(s, { service: 'target', cmd: ['sh', '-c', HOG] });
    assert.equal(hog.json!.exitCode, 137, JSON.stringify(hog.json));
    await waitFor('an oom entry in the transcript', async () => transcript(id).find((e) => e.event === 'oom' && e.data?.service === 'target'), 15_000);
    assert.equal((await view(s)).status, 'running', 'httpd itself was not the one killed');
    const pid = ((await exec(s, { service: 'target', cmd: ['pidof', 'httpd'] })).json!.stdout as string).trim();
    assert.match(pid, /^[0-9]+$/);
    assert.equal((await exec(s, { service: 'target', cmd: ['kill', pid] })).status, 200);
    const end = await ended(s, 30_000);
    assert.equal(end.status, 'failed', JSON.stringify(end));
    // Killed by SIGTERM: the earlier OOM kill of another process of the container is not its cause.
    assert.deepEqual(end.reset, { service: 'target', exitCode: 143, oomKilled: false });
    assert.equal(end.reason, 'environment_reset: service "target" exited (code 143) before completion');
    // The evidence says the same (inspect.json keeps the engine's own State.OOMKilled, which Docker
    // 20.10 sets after the earlier kill: see diedOfOomKill).
    const evidence = evidenceDir(id);
    const target = readJson<{ containers: ContainerEnd[] }>(join(evidence, 'environment.json')).containers.find((c) => c.name === 'target');
    assert.deepEqual([target?.exitCode, target?.oomKilled], [143, false]);
    assert.equal(readJson<{ oomKilled: boolean }>(join(evidence, 'services', 'target', 'exit.json')).oomKilled, false);
  });
});

describe('pods: a required service OOM-killed', () => {
  let stack: Stack;
  let templatesDir: string | undefined;
  before(async () => {
    // main: hello; victim: 32 MB, waits for /work/go (its own tmpfs), then holds far more than that.
    templatesDir = await buildTestTemplates([{
      id: 'pod-oom',
      scorer: readFileSync(join(REPO, 'templates', 'hello', '1', 'scorer', 'score.sh'), 'utf8'),
      services: [{
        name: 'victim',
        memoryMb: 32,
        command: ['/bin/sh', '-c', `trap 'exit 0' TERM; until [ -e /work/go ]; do sleep 1 & wait $!; done; ${HOG}`],
      }],
    }, {
      // late: its readiness command never succeeds (nothing ever writes /work/ready)
      id: 'pod-never-ready',
      scorer: readFileSync(join(REPO, 'templates', 'hello', '1', 'scorer', 'score.sh'), 'utf8'),
      services: [{
        name: 'late',
        memoryMb: 32,
        command: ['/bin/sh', '-c', 'trap \'exit 0\' TERM; while :; do sleep 1 & wait $!; done'],
        readiness: { command: ['/bin/sh', '-c', 'echo "no /work/ready yet" >&2; test -e /work/ready'], timeoutSeconds: 2 },
      }],
    }]);
    stack = await startStack({ templatesDir });
  });
  after(async () => {
    await stack?.stop();
    if (templatesDir) rmSync(templatesDir, { recursive: true, force: true });
  });
  const { spawn, view, ended, evidenceDir, readJson, chain, leases } = helpers(() => stack);

  it('ends the scenario failed, environment_reset naming the service, its code and the OOM kill', async () => {
    const sub = 'oom-victim';
    const s = await spawn(sub, 'pod-oom', 'intro');
    const { id } = s;
    assert.deepEqual(((await view(s)).services as Array<{ name: string; required: boolean }>).map((x) => [x.name, x.required]), [['main', true], ['victim', true]]);
    const go = await fetch(`${stack.base}/api/scenarios/${id}/files?path=${encodeURIComponent('/work/go')}&service=victim`, {
      method: 'PUT', headers: { authorization: `Bearer ${s.access}`, 'content-type': 'application/octet-stream' }, body: 'go',
    });
    assert.equal(go.status, 204, await go.text());

    const end = await ended(s, 60_000);
    assert.equal(end.status, 'failed', JSON.stringify(end));
    // SIGKILL from the kernel: docker-init exits 128 + 9.
    assert.deepEqual(end.reset, { service: 'victim', exitCode: 137, oomKilled: true });
    assert.equal(end.reason, 'environment_reset: service "victim" exited (code 137, OOM-killed by the kernel) before completion');

    const evidence = evidenceDir(id);
    const exit = readJson<{ running: boolean; exitCode: number; oomKilled: boolean }>(join(evidence, 'services', 'victim', 'exit.json'));
    assert.deepEqual([exit.running, exit.exitCode, exit.oomKilled], [false, 137, true]);
    const environment = readJson<{ containers: ContainerEnd[] }>(join(evidence, 'environment.json'));
    assert.deepEqual(environment.containers.map((c) => [c.name, c.running, c.oomKilled]), [['pod', true, false], ['main', true, false], ['victim', false, true]]);
    // The engine's oom event is in the transcript too (any OOM kill in a service is recorded).
    assert.ok(chain(join(evidence, TRANSCRIPT_FILE)).some((e) => e.event === 'oom' && e.data?.service === 'victim'), 'the transcript records the OOM kill');
    assert.deepEqual(await containersOf(id), []);
    await waitFor('lease released', async () => ((await leases(sub)).includes(id) ? undefined : true), 10_000);
  });

  it('a service whose readiness command never succeeds fails the scenario naming it, and leaves no container behind', async () => {
    const sub = 'never-ready';
    const sat = await stack.sat(await stack.et(sub, 'acme', 'pro'), 'pod-never-ready', 'intro');
    const spawned = await stack.call('POST', '/api/spawn', sat, {});
    assert.equal(spawned.status, 202, JSON.stringify(spawned.json));
    const id = spawned.json!.scenarioId as string;
    const end = await waitFor(`${id} ended`, async () => {
      const v = (await stack.call('GET', `/api/scenarios/${id}`, spawned.json!.accessToken as string)).json;
      return v && ['failed', 'scored', 'cancelled', 'timed_out'].includes(v.status as string) ? v : undefined;
    }, 60_000);
    assert.equal(end.status, 'failed', JSON.stringify(end));
    assert.match(end.reason as string, /^service "late" was not ready within 2s \(its readiness command: exit 1: no \/work\/ready yet\)$/);
    // The launch that failed had created the holder and both services: all removed, by label.
    await waitFor('no container left', async () => ((await containersOf(id)).length === 0 ? true : undefined), 30_000);
    await waitFor('lease released', async () => ((await leases(sub)).includes(id) ? undefined : true), 10_000);
  });
});
