// Remote policy mode against a real OPA server (opa run --server on loopback, started and
// stopped here), loaded with the server bundle scripts/build-policy.sh builds from the same
// policies/ folder as the Wasm bundle, tests excluded. A table of inputs runs through both
// engines and every decision must be identical: allow, each reason, and the policy hash.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_POLICY_DIR, loadPolicy, type PolicyEngine } from '../../infra/policy/wasm-engine.ts';
import { policyInputFor } from '../../activities/evaluate-policy.ts';
import { connectRemotePolicy } from '../../infra/policy/remote-engine.ts';
import type { PolicyInput } from '../../lib/policy-types.ts';
import { loadTemplate } from '../../infra/template.ts';
import { REPO, tools, waitFor } from '../support/harness.ts';

/** What the free plan grants inside a running scenario (policies/plans/data.json). */
const FREE_ACCESS = { exec: true, files: true, terminal: true, terminalSessions: 1 };

const SERVER_BUNDLE = join(DEFAULT_POLICY_DIR, 'server-bundle.tar.gz');

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

interface OpaServer { url: string; process: ChildProcess; stop(): Promise<void> }

/** `opa run --server` on a free loopback port, ready once /health says its bundles are in. */
async function startOpa(args: string[]): Promise<OpaServer> {
  const port = await freePort();
  const child = spawn(tools().OPA_BIN, ['run', '--server', '--addr', `127.0.0.1:${port}`, '--log-level', 'error', ...args], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  try {
    await waitFor(`opa server on ${url}`, async () => {
      if (child.exitCode !== null) throw new Error(`opa exited with ${child.exitCode}: ${stderr}`);
      const res = await fetch(`${url}/health?bundles`);
      return res.ok ? true : undefined;
    }, 20_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, process: child, stop };
}

const hello = loadTemplate({ id: 'hello', version: '1' });
const base: PolicyInput = policyInputFor({
  scenarioId: 'scn-differential',
  subject: 'alice',
  tenant: 'acme',
  track: 'intro',
  entitlement: { plan: 'free', template: hello, templateDigest: 'cd'.repeat(32), limits: { memoryMb: 64, cpus: 0.5, pids: 32, ttlSeconds: 1800, tmpfsMb: 16 } },
});

/** The launch keeps the main container's entry in services equal to isolation: so does every case. */
function synced(input: PolicyInput): PolicyInput {
  return { ...input, services: input.services.map((s) => (s.main ? { ...s, isolation: input.isolation } : s)) };
}
function withTemplate(patch: Partial<PolicyInput['template']>, over: Partial<PolicyInput> = {}): PolicyInput {
  return synced({ ...base, ...over, template: { ...base.template, ...patch } });
}
function withIsolation(patch: Partial<PolicyInput['isolation']>, over: Partial<PolicyInput> = {}): PolicyInput {
  return synced({ ...base, ...over, isolation: { ...base.isolation, ...patch } });
}
/** What the launch would ask for `id` on `plan`, as policyInputFor builds it. */
function inputFor(id: string, plan: string, track: string): PolicyInput {
  const template = loadTemplate({ id, version: '1' });
  const limits = { memoryMb: template.limits.memoryMb, cpus: template.limits.cpus, pids: template.limits.pids, ttlSeconds: 1800, tmpfsMb: template.limits.tmpfsMb };
  return policyInputFor({ scenarioId: 'scn-differential', subject: 'alice', tenant: 'acme', track, entitlement: { plan, template, templateDigest: 'cd'.repeat(32), limits } });
}
const roBind = (source: string, target: string) => ({ type: 'bind', source, target, readOnly: true });

const cyclic: Record<string, unknown> = { ...base };
cyclic['self'] = cyclic;

/** [name, input, expected allow, a reason the decision must include (for a deny)] */
type Case = [string, unknown, boolean, RegExp?];
const cases: Case[] = [
  // allowed
  ['hello on the free intro track', base, true],
  ['a web template on the pro plan', withTemplate({ id: 'webapp', version: '2', tracks: ['web', 'forensics'] }, { plan: 'pro', track: 'web' }), true],
  ['an agents template on the enterprise plan', withTemplate({ id: 'agent', tracks: ['agents'], limits: { memoryMb: 2048, cpus: 2, pids: 1024, ttlSeconds: 28800 } }, { plan: 'enterprise', track: 'agents', isolation: { ...base.isolation, resources: { memoryMb: 2048, memorySwapMb: 2048, cpus: 2, pids: 1024, nproc: 0 } } }), true],
  ['limits exactly at the plan ceiling', withTemplate({ limits: { memoryMb: 128, cpus: 0.5, pids: 64, ttlSeconds: 1800 } }), true],
  ['a read-only bind of a plain folder', withIsolation({ mounts: [roBind('/srv/fixtures', '/fixtures')] }), true],
  ['a sha256:-prefixed digest', withTemplate({ digest: `sha256:${'cd'.repeat(32)}` }), true],
  ['a two-service pod (web-recon) on the pro plan', inputFor('web-recon', 'pro', 'web'), true],
  ['hello under gVisor on the plan that requires it', inputFor('hello-gvisor', 'sandboxed', 'intro'), true],
  ['hello on runc under the plan that requires gVisor', inputFor('hello', 'sandboxed', 'intro'), false, /plan "sandboxed" allows runtimes "runsc"; template "hello@1" asks for "runc"/],
  ['a pod whose service joins another container', (() => {
    const pod = inputFor('web-recon', 'pro', 'web');
    return { ...pod, services: pod.services.map((x) => (x.name === 'target' ? { ...x, isolation: { ...x.isolation, networkMode: 'container:elsewhere' } } : x)) };
  })(), false, /service "target": network mode "container:elsewhere" joins a container that is not this scenario's namespace holder/],
  ['extra fields the policy does not read', { ...base, note: 'ignored', template: { ...base.template, description: 'x' } }, true],
  // each deny kind
  ['a track outside the plan', withTemplate({ tracks: ['intro', 'web'] }, { track: 'web' }), false, /track "web" is not in plan "free"/],
  ['an unknown plan', { ...base, plan: 'gold' }, false, /unknown plan "gold"/],
  ['a template not published for the track', { ...base, plan: 'pro', track: 'web' }, false, /not published for track "web"/],
  ['a template without a digest', withTemplate({ digest: 'draft' }), false, /no published content digest/],
  ['a template asking for a network', withTemplate({ network: 'bridge' }), false, /asks for network "bridge"/],
  ['a template over every plan limit', withTemplate({ limits: { memoryMb: 129, cpus: 0.75, pids: 65, ttlSeconds: 1801 } }), false, /requests ttlSeconds 1801, above the 1800/],
  ['applied limits of zero', withIsolation({ resources: { memoryMb: 0, memorySwapMb: 0, cpus: 0, pids: 0, nproc: 0 } }), false, /memoryMb limit is 0/],
  ['a bridge network', withIsolation({ networkMode: 'bridge', networkDisabled: false }), false, /networking is enabled/],
  ['a writable root filesystem', withIsolation({ readonlyRootfs: false }), false, /root filesystem is writable/],
  ['a privileged container', withIsolation({ privileged: true }), false, /privileged/],
  ['root', withIsolation({ user: '0:0' }), false, /user "0:0"/],
  ['capabilities kept', withIsolation({ capDrop: ['NET_RAW'] }), false, /not every capability is dropped/],
  ['capabilities added', withIsolation({ capAdd: ['SYS_ADMIN', 'NET_ADMIN'] }), false, /capabilities are added: "SYS_ADMIN", "NET_ADMIN"/],
  ['no-new-privileges off', withIsolation({ noNewPrivileges: false }), false, /no-new-privileges/],
  ['seccomp unconfined', withIsolation({ seccomp: 'unconfined' }), false, /seccomp profile is "unconfined"/],
  ['host namespaces', withIsolation({ namespaces: { pid: 'host', ipc: 'host', uts: 'host', userns: '', cgroupns: 'container:x' } }), false, /own uts namespace/],
  ['a host device', withIsolation({ devices: ['/dev/kvm'] }), false, /host devices are exposed: "\/dev\/kvm"/],
  ['the Docker socket', withIsolation({ mounts: [roBind('/var/run/docker.sock', '/var/run/docker.sock')] }), false, /exposes a socket/],
  ['a writable bind', withIsolation({ mounts: [{ type: 'bind', source: '/srv', target: '/srv', readOnly: false }] }), false, /is writable/],
  ['a bind of /proc', withIsolation({ mounts: [roBind('/proc', '/p')] }), false, /kernel interfaces/],
  ['volumes of another container', withIsolation({ mounts: [{ type: 'volumes-from', source: 'other', target: '', readOnly: true }] }), false, /volumes-from/],
  ['swap', withIsolation({ resources: { memoryMb: 64, memorySwapMb: 128, cpus: 0.5, pids: 32, nproc: 0 } }), false, /may swap/],
  ['everything wrong at once', withIsolation({ privileged: true, user: 'root', devices: ['/dev/mem'] }, { plan: 'free', track: 'agents' }), false, /track "agents" is not in plan "free"/],
  // malformed
  ['an empty object', {}, false, /input\.plan must be a non-empty string/],
  ['null', null, false, /input\.isolation must be an object/],
  ['an array', ['free', 'intro'], false, /input\.track must be a non-empty string/],
  ['a string', 'free', false, /input\.subject must be a non-empty string/],
  ['zero', 0, false, /input\.tenant must be a non-empty string/],
  ['no isolation', { ...base, isolation: undefined }, false, /input\.isolation must be an object/],
  ['an isolation that is an array', { ...base, isolation: ['none'] }, false, /input\.isolation must be an object/],
  ['an empty isolation', { ...base, isolation: {} }, false, /the mounts are not a list/],
  ['wrong types everywhere', { subject: 1, tenant: [], plan: {}, track: true, template: { id: 2, tracks: 'intro', limits: { cpus: '1' } }, isolation: { user: 0, capAdd: 'ALL', mounts: [7] } }, false, /a mount is malformed/],
  ['names with quotes, newlines, markup and U+2028', { ...base, plan: 'a"b', track: 'x\ny', template: { ...base.template, id: '<b>&amp;', version: '\u2028' } }, false, /\(a value that cannot be shown\)/],
  ['a very long track name', { ...base, track: 'w'.repeat(10_000) }, false, /track \(a value that cannot be shown\) is not in plan "free"/],
  ['exotic numbers', withTemplate({ limits: { memoryMb: 1e21, cpus: 1e-7, pids: 0.1, ttlSeconds: 123456789012 } }), false, /requests memoryMb 1e\+21/],
  ['a malformed mount list', withIsolation({ mounts: 'docker.sock' as unknown as [] }), false, /the mounts are not a list/],
  ['a cyclic input', cyclic, false, /^policy evaluation failed: Converting circular structure to JSON/],
];

void describe('remote policy mode (OPA server) against the Wasm bundle', () => {
  let wasm: PolicyEngine;
  let opa: OpaServer | undefined;
  let remote: PolicyEngine;
  const servers: OpaServer[] = [];
  const temp = mkdtempSync(join(tmpdir(), 'arbiter-opa-'));

  before(async () => {
    wasm = await loadPolicy(DEFAULT_POLICY_DIR);
    opa = await startOpa(['--bundle', SERVER_BUNDLE]);
    servers.push(opa);
    remote = await connectRemotePolicy({ url: opa.url, expectedSha256: wasm.sha256 });
  });

  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(temp, { recursive: true, force: true });
  });

  void it(`has a table of at least 30 inputs (${cases.length})`, () => {
    assert.ok(cases.length >= 30);
  });

  void it('reports the Wasm bundle\'s sha256 as the server\'s bundle revision', () => {
    assert.equal(remote.sha256, wasm.sha256);
    assert.equal(remote.source, `opa ${opa!.url}`);
  });

  for (const [name, input, allow, reason] of cases) {
    void it(`decides ${name} exactly as the Wasm engine does`, async () => {
      const [fromWasm, fromServer] = await Promise.all([wasm.evaluate(input as PolicyInput), remote.evaluate(input as PolicyInput)]);
      assert.deepEqual(fromServer, fromWasm);
      assert.equal(fromWasm.allow, allow, JSON.stringify(fromWasm.reasons));
      if (allow) assert.deepEqual(fromWasm.reasons, []);
      else assert.ok(fromWasm.reasons.some((r) => reason!.test(r)), `${String(reason)} in ${JSON.stringify(fromWasm.reasons)}`);
    });
  }

  void it('refuses to connect to a server running another bundle than the pinned one, naming both', async () => {
    await assert.rejects(connectRemotePolicy({ url: opa!.url, expectedSha256: 'e'.repeat(64) }), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.ok(err.message.includes('e'.repeat(64)) && err.message.includes(wasm.sha256), err.message);
      return true;
    });
  });

  void it('reports the revision of the bundle the server runs, and denies when it is not the pinned one', async () => {
    const other = join(temp, 'other.tar.gz');
    const revision = 'a1'.repeat(32);
    const built = spawnSync(tools().OPA_BIN, ['build', '-b', '--ignore', '*_test.rego', '--revision', revision, '-o', other, 'policies/'], { cwd: REPO, encoding: 'utf8' });
    assert.equal(built.status, 0, built.stderr);
    const server = await startOpa(['--bundle', other]);
    servers.push(server);
    const unpinned = await connectRemotePolicy({ url: server.url });
    assert.equal(unpinned.sha256, revision);
    assert.deepEqual(await unpinned.evaluate(base), { allow: true, reasons: [], policySha256: revision, access: FREE_ACCESS });
    await assert.rejects(connectRemotePolicy({ url: server.url, expectedSha256: wasm.sha256 }), /sha256 mismatch/);
  });

  void it('refuses a server loaded from plain files, which cannot say which policy decided', async () => {
    const server = await startOpa(['--ignore', '*_test.rego', 'policies/']);
    servers.push(server);
    // The server itself decides as the bundle does …
    const res = await fetch(`${server.url}/v1/data/arbiter/spawn/decision`, { method: 'POST', body: JSON.stringify({ input: base }) });
    assert.deepEqual(await res.json(), { result: { allow: true, reasons: [], access: FREE_ACCESS } });
    // … but without a revision its decisions cannot be attributed, so Arbiter will not use it.
    await assert.rejects(connectRemotePolicy({ url: server.url }), /no single bundle revision/);
  });

  void describe('fails closed', () => {
    // Forwards to the real server unless told to stall or fail, to reach the error paths
    // of a server that is slow or broken mid-run.
    let mode: 'forward' | 'stall' | 'error' | 'garbage' = 'forward';
    let proxy: Server;
    let proxyUrl: string;
    const stalled: Array<() => void> = [];

    before(async () => {
      const target = new URL(opa!.url);
      proxy = createHttpServer((req, res) => {
        if (mode === 'stall') { stalled.push(() => res.destroy()); return; }
        if (mode === 'error') { res.writeHead(500, { 'content-type': 'application/json' }).end('{"code":"internal_error","message":"boom"}'); return; }
        if (mode === 'garbage') { res.writeHead(200, { 'content-type': 'text/plain' }).end('not json'); return; }
        const upstream = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        });
        req.pipe(upstream);
      });
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
      const address = proxy.address();
      if (address === null || typeof address === 'string') throw new Error('no proxy port');
      proxyUrl = `http://127.0.0.1:${address.port}`;
    });

    after(async () => {
      for (const release of stalled) release();
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    });

    void it('denies, naming the timeout, when the server does not answer in time', async () => {
      mode = 'forward';
      const engine = await connectRemotePolicy({ url: proxyUrl, timeoutMs: 300, expectedSha256: wasm.sha256 });
      mode = 'stall';
      const started = Date.now();
      const d = await engine.evaluate(base);
      assert.deepEqual(d, { allow: false, reasons: ['policy evaluation failed: the policy server did not answer within 300 ms'], policySha256: wasm.sha256 });
      assert.ok(Date.now() - started < 5000);
      mode = 'forward';
      assert.equal((await engine.evaluate(base)).allow, true, 'recovers once the server answers again');
    });

    void it('denies, naming the status, when the server answers with an error', async () => {
      mode = 'forward';
      const engine = await connectRemotePolicy({ url: proxyUrl });
      mode = 'error';
      assert.deepEqual((await engine.evaluate(base)).reasons, ['policy evaluation failed: policy server answered HTTP 500: boom']);
      mode = 'garbage';
      assert.deepEqual((await engine.evaluate(base)).reasons, ['policy evaluation failed: policy server answered HTTP 200 with a body that is not JSON']);
      mode = 'forward';
    });

    void it('refuses to start against a server that does not answer', async () => {
      mode = 'stall';
      await assert.rejects(connectRemotePolicy({ url: proxyUrl, timeoutMs: 200 }), /did not answer within 200 ms/);
      mode = 'forward';
    });

    void it('denies, naming the refused connection, once the server is gone', async () => {
      const server = await startOpa(['--bundle', SERVER_BUNDLE]);
      servers.push(server);
      const engine = await connectRemotePolicy({ url: server.url, expectedSha256: wasm.sha256 });
      assert.equal((await engine.evaluate(base)).allow, true);
      await server.stop();
      const d = await engine.evaluate(base);
      assert.equal(d.allow, false);
      assert.equal(d.policySha256, wasm.sha256);
      // Refused, or reset when a kept-alive connection was cut by the shutdown.
      assert.equal(d.reasons.length, 1);
      assert.match(d.reasons[0]!, /^policy evaluation failed: the policy server could not be reached \((ECONNREFUSED|ECONNRESET|UND_ERR_SOCKET)\)$/);
    });
  });
});
