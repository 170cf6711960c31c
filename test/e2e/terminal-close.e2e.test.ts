// A scenario's end with a subject's terminal still open, on the container host's own access
// server, the real Docker engine and a real scenario container: the evidence collection closes the
// scenario's access first (infra/access-registry.ts), and must get the transcript's last word
// whatever the terminal's client and the engine do. A CI run once saw that collection never end
// (the subject page's terminal was open at the completion): nothing of the close may wait on the
// client's side of the socket's closing handshake, nor on an engine call that never answers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import WebSocket from 'ws';
import { AccessRegistry } from '../../infra/access-registry.ts';
import { mintToken } from '../../infra/tokens.ts';
import { transcriptDir } from '../../infra/transcript-log.ts';
import type { AuditEntry } from '../../lib/audit-chain.ts';
import { TRANSCRIPT_FILE, type TerminalData } from '../../lib/transcript.ts';
import { buildAccessServer, listenAccessServer, type AccessListener } from '../../workers/access-server.ts';
import { startDockerGate, type DockerGate } from '../support/docker-gate.ts';
import { docker, waitFor } from '../support/harness.ts';
import { startSubjectContainer } from '../support/subject-container.ts';

const HOST = 'terminal-close-host';
const SECRET = { current: Buffer.from('terminal-close-relay-secret-of-this-test-only', 'utf8'), previous: [] };
const ENGINE = process.env.DOCKER_SOCKET ?? '/var/run/docker.sock';
const SUBJECT = `
trap 'exit 0' TERM
echo prepared
while :; do sleep 1 & wait $!; done
`;
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe('a scenario\'s access closed while a terminal is open or a call is on its way', () => {
  let container: Docker.Container;
  let scenarioId: string;
  const scratch: string[] = [];
  const gates: DockerGate[] = [];
  const servers: AccessListener[] = [];
  const clients: WebSocket[] = [];

  before(async () => {
    container = await startSubjectContainer({ name: 'tclose', script: SUBJECT, ready: 'prepared' });
    scenarioId = (await container.inspect()).Name.replace(/^\/arbiter-/, '');
  });

  after(async () => {
    for (const c of clients) c.terminate();
    for (const s of servers) await s.close().catch(() => undefined);
    for (const g of gates) await g.close();
    await container?.remove({ force: true }).catch(() => undefined);
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  });

  /** This host's access server over `engine`, on a Unix socket as a deployed host's. */
  async function accessServer(engine: Docker) {
    const dir = mkdtempSync(join(tmpdir(), 'arbiter-tclose-'));
    scratch.push(dir);
    const registry = new AccessRegistry(dir);
    const socketPath = join(dir, 'access.sock');
    const server = await listenAccessServer(await buildAccessServer({ docker: engine, registry, hostId: HOST, relaySecret: SECRET, log: silent, transferIdleMs: 60_000 }), `unix:${socketPath}`);
    servers.push(server);
    const token = async (act: 'exec' | 'terminal') => (await mintToken('relay', { sub: 'subject:alice', scn: scenarioId, host: HOST, act, svc: 'main', user: '1000', rec: 1 << 20, max: 2 }, SECRET, { ttlSeconds: 600 })).token;
    const terminal = async () => new WebSocket(`ws+unix://${socketPath}:/v1/scenarios/${scenarioId}/terminal?cols=80&rows=24`, { headers: { authorization: `Bearer ${await token('terminal')}` } });
    const exec = async (cmd: string[]) => {
      const body = JSON.stringify({ cmd });
      const auth = `Bearer ${await token('exec')}`;
      return new Promise<{ status: number; json: { error?: { code: string } } }>((resolve, reject) => {
        const req = httpRequest({ socketPath, method: 'POST', path: `/v1/scenarios/${scenarioId}/exec`, headers: { authorization: auth, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => { text += c; });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as { error?: { code: string } } }));
        });
        req.on('error', reject);
        req.end(body);
      });
    };
    return { registry, dir, terminal, exec };
  }

  /** A terminal on the scenario through `engine`'s access server, past its first prompt. */
  async function openTerminal(engine: Docker) {
    const { registry, dir, terminal } = await accessServer(engine);
    const client = await terminal();
    clients.push(client);
    let shown = '';
    client.on('message', (data: Buffer) => { shown += data.toString('utf8'); });
    await new Promise<void>((resolve, reject) => {
      client.once('open', () => resolve());
      client.once('error', reject);
    });
    client.send(Buffer.from('echo "mark"-$((6*7))\r'), { binary: true });
    await waitFor('the shell\'s answer', async () => (shown.includes('mark-42') ? true : undefined), 30_000);
    return { registry, client, dir };
  }

  function terminalEntries(dir: string): TerminalData[] {
    const text = readFileSync(join(transcriptDir(dir, scenarioId), TRANSCRIPT_FILE), 'utf8');
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEntry).filter((e) => e.event === 'terminal').map((e) => e.data as unknown as TerminalData);
  }

  /** The shells this test's terminals started that still run in the container. */
  async function shells(): Promise<number> {
    const top = (await docker.getContainer(container.id).top({ ps_args: '-o pid,args' })) as { Processes: string[][] };
    return top.Processes.filter((p) => p[p.length - 1] === '/bin/sh -l').length;
  }

  // The client reads nothing more (a stalled browser, a relay that went quiet), so it never answers
  // the host's closing frame: the host's socket would only give up on it at ws's 30 s close timeout.
  it('a client that never answers the closing handshake does not hold the close: the session is recorded as ended by the scenario and its shell is gone', { timeout: 20_000 }, async () => {
    const { registry, client, dir } = await openTerminal(docker);
    client.pause();
    await registry.close(scenarioId, 'container-host');
    const [entry, ...more] = terminalEntries(dir);
    assert.equal(more.length, 0);
    assert.equal(entry?.ended, 'scenario_ended');
    assert.equal(entry.user, '1000');
    assert.equal(client.readyState, WebSocket.OPEN, 'the client has not seen the close yet: nothing waited on it');
    await waitFor('the session\'s shell to be gone', async () => ((await shells()) === 0 ? true : undefined), 10_000);

    // A keystroke still in flight reaches the host after the session's recording is closed: it is
    // dropped, not written to a descriptor that may by then be another file's. The host reads it
    // before the client's answer to its closing frame, which the client sends once it reads again.
    const recording = join(transcriptDir(dir, scenarioId), entry.recording.stored!.path);
    const before = readFileSync(recording);
    client.send(Buffer.from('echo too-late\r'), { binary: true });
    const closed = new Promise<number>((resolve) => client.once('close', (code: number) => resolve(code)));
    client.resume();
    assert.equal(await closed, 4409);
    assert.deepEqual(readFileSync(recording), before);
  });

  // The gate holds every exec inspect, as an engine that stopped answering them would: the end's
  // inspects give up at their bound, the stream is dropped, and the close still gets its entry.
  it('an engine that never answers the terminal\'s inspects does not hold the close either: the entry is written, with no exit code', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arbiter-tclose-gate-'));
    scratch.push(dir);
    const gate = await startDockerGate({ socket: join(dir, 'engine.sock'), engineSocket: ENGINE, hold: (method, url) => method === 'GET' && /\/exec\/[^/]+\/json/.test(url) });
    gates.push(gate);
    const { registry, dir: storage } = await openTerminal(new Docker({ socketPath: gate.socket }));
    await registry.close(scenarioId, 'container-host');
    assert.ok(gate.held.length >= 1, 'the end asked the engine about the shell, and got no answer');
    const [entry, ...more] = terminalEntries(storage);
    assert.equal(more.length, 0);
    assert.equal(entry?.ended, 'scenario_ended');
    assert.equal(entry.exitCode, null);
    // Its shell could not be found to be killed (the engine never said its pid), and a shell on a
    // TTY sees no end of input when its stream is dropped: it goes with the container, which the
    // scenario's teardown removes right after the collection.
  });

  // The close runs while a call is between its last check and its registration (its container
  // being looked up, held by the gate): the call must be refused, not run after the transcript
  // was copied into the evidence, where an answer it gave would be missing.
  for (const kind of ['exec', 'terminal'] as const) {
    it(`${kind === 'exec' ? 'an exec' : 'a terminal'} on its way when the scenario closes is refused, runs nothing, and adds nothing to the transcript`, { timeout: 60_000 }, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'arbiter-tclose-race-'));
      scratch.push(dir);
      const gate = await startDockerGate({ socket: join(dir, 'engine.sock'), engineSocket: ENGINE, hold: (method, url) => method === 'GET' && url.includes(`/containers/arbiter-${scenarioId}/json`) });
      gates.push(gate);
      const held = new Promise<void>((resolve) => gate.onHold(() => resolve()));
      // The wedged engine's test above leaves its shell to the container's removal.
      const shellsBefore = await shells();
      const server = await accessServer(new Docker({ socketPath: gate.socket }));
      const answered = kind === 'exec'
        ? server.exec(['/bin/busybox', 'echo', 'late']).then((r) => `${r.status} ${r.json.error?.code ?? ''}`)
        : server.terminal().then((client) => {
          clients.push(client);
          return new Promise<string>((resolve) => client.once('close', (code: number) => resolve(String(code))));
        });
      await held;
      await server.registry.close(scenarioId, 'container-host');
      const transcript = join(transcriptDir(server.dir, scenarioId), TRANSCRIPT_FILE);
      const copied = existsSync(transcript) ? readFileSync(transcript, 'utf8') : '';
      gate.held[0]!.release();
      assert.equal(await answered, kind === 'exec' ? '409 not_running' : '4409');
      assert.equal(existsSync(transcript) ? readFileSync(transcript, 'utf8') : '', copied);
      assert.equal(await shells(), shellsBefore, 'no shell was left running');
    });
  }
});
