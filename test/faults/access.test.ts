// Fault: the container host dies (SIGKILL) while a subject works in its scenario through the API
// (CONTRACT "Subject access"). The caller gets an error in the contract's shape, never a hang; the
// API stays up; after the host's worker restarts, access works again, the scenario scores, and the
// transcript the verdict binds agrees with what callers were told: every answer that reached a
// caller is in it at its seq (the durability promise), nothing claims an answer that never came,
// and a terminal session cut off by the kill is sealed, not lost. Also: a terminal whose client
// goes away leaves no shell behind and is recorded as client_closed, and a restarted host ends the
// shell of a session its predecessor could not.
//
// Real components: the Temporal dev server, the Docker engine, the API over loopback and the main
// worker in this process, and the container worker as a separate process (workers/container.ts)
// this test SIGKILLs and restarts, configured like a deployed host (its access server on a Unix
// socket under ARBITER_ACCESS_SOCKET_DIR, relay tokens signed with RELAY_HMAC_SECRET).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import WebSocket from 'ws';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { buildApp } from '../../api/app.ts';
import { loadPlans } from '../../infra/plans.ts';
import { DEFAULT_TEMPLATES_DIR } from '../../infra/template.ts';
import { mintToken } from '../../infra/tokens.ts';
import type { Jwks } from '../../infra/keys.ts';
import { resultsDir, RESULTS, verifyResults } from '../../infra/results.ts';
import { verifyChainText, type AuditEntry } from '../../lib/audit-chain.ts';
import type { ExecData, TerminalData } from '../../lib/transcript.ts';
import { bundleWorkflows, createMainWorker } from '../../workers/workers.ts';
import { SEARCH_ATTRIBUTES } from '../../contract/queues.ts';
import { containersOf, docker, tools, testConfig, waitFor, type TestConfig } from '../support/harness.ts';
import { startWorker, type WorkerProcess } from '../support/restartable.ts';

Runtime.install({ logger: new DefaultLogger('WARN') });

interface Http { status: number; json: Record<string, unknown> | undefined }
/** An exec whose answer reached the caller: what the transcript must say about it. */
interface Answered { seq: number; exitCode: number | null; stdoutSha256: string }

const sha256 = (s: string) => createHash('sha256').update(Buffer.from(s, 'utf8')).digest('hex');

describe('faults: subject access while the container worker is killed', () => {
  let env: TestWorkflowEnvironment;
  let t: TestConfig;
  let main: Worker;
  let stopMain: () => void = () => undefined;
  let mainDone: Promise<unknown>;
  let app: FastifyInstance;
  let base: string;
  let host: WorkerProcess | undefined;
  let starts = 0;
  const completionSecret = randomBytes(32).toString('base64url');
  const relaySecret = randomBytes(32).toString('base64url');
  const spawned: string[] = [];

  before(async () => {
    env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: tools().TEMPORAL_BIN },
        ip: '127.0.0.1',
        extraArgs: Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
      },
    });
    t = await testConfig({ COMPLETION_HMAC_SECRET: completionSecret, RELAY_HMAC_SECRET: relaySecret });
    const bundle = await bundleWorkflows(new DefaultLogger('WARN'));
    ({ worker: main } = await createMainWorker({ config: t.config, connection: env.nativeConnection, client: env.client, workflowBundle: bundle }));
    mainDone = main.runUntil(new Promise<void>((resolve) => { stopMain = resolve; }));
    app = await buildApp({ config: t.config, temporal: env.client, plans: loadPlans(), templatesDir: DEFAULT_TEMPLATES_DIR, checks: {}, httpRateLimitPerMinute: 1_000_000 });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    await startHost();
  });

  after(async () => {
    for (const id of spawned) {
      await env?.client.workflow.getHandle(id).terminate('test cleanup').catch(() => undefined);
      for (const c of await containersOf(id)) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    }
    await host?.kill().catch(() => undefined);
    await app?.close();
    stopMain();
    await mainDone;
    await env?.teardown();
    t?.cleanup();
  });

  // ---- the container host, as deployed --------------------------------------------------------

  /** Starts the container worker and waits until its access server listens. */
  async function startHost(): Promise<void> {
    const n = ++starts;
    const w = startWorker('container', {
      ARBITER_MODE: 'production',
      COMPLETION_HMAC_SECRET: completionSecret,
      RELAY_HMAC_SECRET: relaySecret,
      ARBITER_ACCESS_SOCKET_DIR: t.config.access.socketDir,
      ARBITER_STORAGE_DIR: t.config.storageDir,
      ARBITER_HOST_ID: t.config.hostId,
      // No warm pool: its entries would outlive the test (pooled-flag declares one).
      ARBITER_POOLS: 'none',
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_NAMESPACE: t.config.temporalNamespace,
      DOCKER_SOCKET: t.config.dockerSocket,
      LOG_LEVEL: 'info',
      // No ops ports: a stack or another test on this machine may hold the defaults.
      WORKER_HTTP_PORT: 'off',
      TEMPORAL_METRICS_ADDRESS: 'off',
    }, t.dir, `container-${n}`);
    host = w;
    // The socket file of a killed predecessor is still there: its log line is the sign, not the file.
    await waitFor(`the container worker (start ${n}) serving access`, async () => {
      if (w.child.exitCode !== null) throw new Error(`the container worker exited ${w.child.exitCode}: ${w.tail()}`);
      const log = readFileSync(w.log, 'utf8');
      return log.includes('subject access server listening') && log.includes('worker started"') ? true : undefined;
    }, 90_000);
  }

  async function killHost(): Promise<void> {
    await host!.kill();
    host = undefined;
  }

  // ---- the API, as a client uses it -----------------------------------------------------------

  async function call(method: string, path: string, token: string, body?: unknown): Promise<Http> {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let json: Record<string, unknown> | undefined;
    try {
      json = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    } catch {
      assert.fail(`${method} ${path} answered ${res.status} with a body that is not JSON: ${text.slice(0, 300)}`);
    }
    return { status: res.status, json };
  }

  const operator = async () => (await mintToken('operator', { sub: 'host-controller', role: 'operator' }, t.config.secrets.OPERATOR_HMAC_SECRET!, { ttlSeconds: 900 })).token;

  /** A log-triage scenario of a pro subject, running; its id and the access token the spawn answered. */
  async function spawnRunning(subject: string): Promise<{ id: string; access: string }> {
    const et = (await mintToken('et', { sub: subject, tenant: 'acme', plan: 'pro' }, t.config.secrets.ET_HMAC_SECRET!, { ttlSeconds: 900 })).token;
    const sat = await call('POST', '/api/sat', et, { template: 'log-triage', track: 'forensics' });
    assert.equal(sat.status, 201, JSON.stringify(sat.json));
    const r = await call('POST', '/api/spawn', sat.json!.sat as string, {});
    assert.equal(r.status, 202, JSON.stringify(r.json));
    const id = r.json!.scenarioId as string;
    spawned.push(id);
    const access = r.json!.accessToken as string;
    assert.ok(access, 'the spawn answers an access token');
    await waitFor(`${id} running`, async () => ((await call('GET', `/api/scenarios/${id}`, access)).json?.status === 'running' ? true : undefined), 90_000);
    return { id, access };
  }

  /** Completes the scenario the way a host's controller does, waits for its verdict, checks that it verifies, and returns its transcript. */
  async function scoreAndReadTranscript(id: string, access: string): Promise<{ entries: AuditEntry[]; evidence: string }> {
    const tokenAnswer = await call('POST', `/api/scenarios/${id}/completion-token`, await operator());
    assert.equal(tokenAnswer.status, 200, JSON.stringify(tokenAnswer.json));
    const done = await call('POST', `/api/scenarios/${id}/complete`, tokenAnswer.json!.token as string, { outcome: 'success', submission: {} });
    assert.equal(done.status, 202, JSON.stringify(done.json));
    await waitFor(`${id} scored`, async () => ((await call('GET', `/api/scenarios/${id}`, access)).json?.status === 'scored' ? true : undefined), 90_000);
    const dir = resultsDir(t.config.storageDir, id);
    const jwks = (await (await fetch(`${base}/.well-known/arbiter/keys`)).json()) as Jwks;
    const check = await verifyResults(dir, jwks);
    assert.ok(check.ok, `the verdict folder verifies: ${JSON.stringify(check)}`);
    const evidence = join(dir, RESULTS.evidenceDir);
    const text = readFileSync(join(evidence, 'transcript.jsonl'), 'utf8');
    assert.ok(verifyChainText(text).ok, 'the transcript chain holds');
    return { entries: text.trim().split('\n').map((l) => JSON.parse(l) as AuditEntry), evidence };
  }

  /** The scenario container's processes, as the engine lists them (one `ps` line each). */
  async function processes(id: string): Promise<string[]> {
    const [c] = await containersOf(id);
    assert.ok(c, `${id} has a container`);
    const top = (await docker.getContainer(c.Id).top()) as { Titles: string[]; Processes: string[][] };
    const cmd = top.Titles.indexOf('CMD');
    return top.Processes.map((p) => (cmd >= 0 ? p.slice(cmd).join(' ') : p.join(' ')));
  }

  /** A 503 in the contract's shape naming the host: never a hang, never a bare 500. */
  function assertHostError(r: Http, what: string): void {
    assert.equal(r.status, 503, `${what}: ${r.status} ${JSON.stringify(r.json)}`);
    const error = r.json?.error as { code?: unknown; message?: unknown } | undefined;
    assert.ok(error && typeof error.message === 'string', `${what}: the contract's error body: ${JSON.stringify(r.json)}`);
    assert.ok(error.code === 'host_unavailable' || error.code === 'host_failed', `${what}: ${String(error.code)}`);
  }

  /** Every answered exec is in the transcript at its seq, with the same exit code and the digest of the stdout the caller got. */
  function assertAnswersRecorded(entries: AuditEntry[], answered: Answered[]): void {
    const bySeq = new Map(entries.map((e) => [e.seq, e]));
    for (const a of answered) {
      const e = bySeq.get(a.seq);
      assert.ok(e, `the answered exec at seq ${a.seq} is in the transcript`);
      assert.equal(e.event, 'exec');
      const data = e.data as unknown as ExecData;
      assert.equal(data.exitCode, a.exitCode, `seq ${a.seq}: exit code`);
      assert.equal(data.stdout.sha256, a.stdoutSha256, `seq ${a.seq}: the stdout the caller received`);
    }
  }

  async function execAnswered(id: string, access: string, cmd: string[], into: Answered[]): Promise<Http> {
    const r = await call('POST', `/api/scenarios/${id}/exec`, access, { cmd });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(typeof r.json!.seq, 'number');
    into.push({ seq: r.json!.seq as number, exitCode: r.json!.exitCode as number | null, stdoutSha256: sha256(r.json!.stdout as string) });
    return r;
  }

  it('SIGKILL during an exec: the caller gets a 503 in the contract\'s shape, the API stays up, and after a restart the transcript agrees with every answer given', async () => {
    const { id, access } = await spawnRunning('agent-mid');
    const answered: Answered[] = [];
    await execAnswered(id, access, ['sh', '-c', 'echo before; exit 4'], answered);

    const slow = ['sh', '-c', 'sleep 3; echo done'];
    const pending = call('POST', `/api/scenarios/${id}/exec`, access, { cmd: slow });
    // Under way: the engine shows the command's process in the container.
    await waitFor('the exec under way in the container', async () => ((await processes(id)).some((p) => p.includes('sleep 3')) ? true : undefined), 15_000);
    await killHost();
    assertHostError(await pending, 'the exec cut off by the kill');

    // The API answers on its own, and says the host is gone rather than hanging or failing bare.
    assert.equal((await call('GET', `/api/scenarios/${id}`, access)).json?.status, 'running', 'the API stays up');
    assertHostError(await call('POST', `/api/scenarios/${id}/exec`, access, { cmd: ['true'] }), 'an exec while the host is down');

    await startHost();
    const later = await execAnswered(id, access, ['sh', '-c', 'echo after'], answered);
    assert.equal(later.json!.stdout, 'after\n');

    const { entries } = await scoreAndReadTranscript(id, access);
    assertAnswersRecorded(entries, answered);
    // The killed exec never got an answer, so nothing may say it did.
    const claims = entries.filter((e) => e.event === 'exec' && JSON.stringify((e.data as unknown as ExecData).cmd) === JSON.stringify(slow));
    assert.deepEqual(claims, [], 'no entry claims an answer for the exec the kill cut off');
  });

  it('SIGKILL right after an exec answered: after the restart and scoring, that exec is in the transcript', async () => {
    const { id, access } = await spawnRunning('agent-after');
    const answered: Answered[] = [];
    await execAnswered(id, access, ['sh', '-c', 'echo first; exit 2'], answered);
    const last = await execAnswered(id, access, ['sh', '-c', 'echo answered-then-killed'], answered);
    // The answer is in hand: the host dies before it could do anything after answering.
    await killHost();
    assert.equal(last.json!.stdout, 'answered-then-killed\n');
    await startHost();

    const { entries } = await scoreAndReadTranscript(id, access);
    assertAnswersRecorded(entries, answered);
  });

  it('terminal: a client that goes away leaves no shell and is recorded as client_closed; a session cut off by a SIGKILL loses its shell at the restart and is sealed as host_restarted', async () => {
    const { id, access } = await spawnRunning('agent-tty');
    const shells = async () => (await processes(id)).filter((p) => /\bsh -l\b/.test(p));
    assert.deepEqual(await shells(), [], 'no login shell before any session');

    /** Opens a terminal, types `line`, and waits until its output line comes back. */
    async function session(line: string, output: RegExp): Promise<{ ws: WebSocket; closed: Promise<number> }> {
      const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/scenarios/${id}/terminal`);
      const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      let out = '';
      ws.on('message', (data: Buffer, binary: boolean) => {
        if (binary) out += data.toString('utf8');
      });
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      ws.send(JSON.stringify({ token: access }));
      ws.send(Buffer.from(`${line}\n`), { binary: true });
      await waitFor(`"${line}" answered in the terminal`, async () => (output.test(out) ? true : undefined), 20_000);
      return { ws, closed };
    }

    // The typed line is echoed too; the command's own output is a line of its own.
    const first = await session('echo hi', /\nhi\r?\n/);
    assert.equal((await shells()).length, 1, 'the session\'s shell runs in the container');
    first.ws.terminate();
    await waitFor('the session\'s shell gone from the container', async () => ((await shells()).length === 0 ? true : undefined), 15_000);

    const second = await session('echo there', /\nthere\r?\n/);
    await killHost();
    // The API's end of the relay went with the host: the subject is told, not left hanging.
    assert.notEqual(await second.closed, 1000, 'the subject\'s socket closes abnormally');
    await startHost();
    // The engine keeps a TTY exec running when its host's connection drops: the restarted host ends it.
    await waitFor('the cut-off session\'s shell gone after the restart', async () => ((await shells()).length === 0 ? true : undefined), 15_000);

    const { entries, evidence } = await scoreAndReadTranscript(id, access);
    const terminals = entries.filter((e) => e.event === 'terminal').map((e) => e.data as unknown as TerminalData);
    const recording = (d: TerminalData) => {
      assert.ok(d.recording.stored, 'the recording is kept');
      const lines = readFileSync(join(evidence, d.recording.stored.path), 'utf8').trim().split('\n');
      const header = JSON.parse(lines[0]!) as { version: number };
      assert.equal(header.version, 2, 'asciicast v2');
      assert.ok(d.recording.stored.path.startsWith('access/'), d.recording.stored.path);
      return lines.slice(1).map((l) => JSON.parse(l) as [number, string, string]);
    };
    const typed = (events: Array<[number, string, string]>) => events.filter((e) => e[1] === 'i').map((e) => e[2]).join('');

    const closedByClient = terminals.filter((d) => d.ended === 'client_closed');
    assert.equal(closedByClient.length, 1, `one client_closed session: ${JSON.stringify(terminals.map((d) => d.ended))}`);
    assert.match(typed(recording(closedByClient[0]!)), /echo hi/, 'its recording holds the typed input');

    const sealed = terminals.filter((d) => d.ended === 'host_restarted');
    assert.equal(sealed.length, 1, `the session cut off by the kill is sealed: ${JSON.stringify(terminals.map((d) => d.ended))}`);
    assert.match(typed(recording(sealed[0]!)), /echo there/, 'with what was typed before the kill');
  });
});
