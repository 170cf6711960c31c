// A terminal whose client stops reading, on the container host's own access server, the real
// Docker engine and a real scenario container: the host must pass the TTY's output at the client's
// pace (infra/ws-pacing.ts), so that a program printing without end (`yes`, a runaway log) blocks
// on its TTY, as on a real terminal, instead of the host queueing everything it prints in memory.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import WebSocket from 'ws';
import { AccessRegistry } from '../../infra/access-registry.ts';
import { execInContainer } from '../../infra/container-access.ts';
import { mintToken } from '../../infra/tokens.ts';
import { buildAccessServer, listenAccessServer, type AccessListener } from '../../workers/access-server.ts';
import { docker, waitFor, waitForSteady } from '../support/harness.ts';
import { startSubjectContainer } from '../support/subject-container.ts';

const HOST = 'terminal-pacing-host';
const SECRET = { current: Buffer.from('terminal-pacing-relay-secret-of-this-test-only', 'utf8'), previous: [] };
const SUBJECT = `
trap 'exit 0' TERM
echo prepared
while :; do sleep 1 & wait $!; done
`;
const CHUNKS = 800;
const CHUNK_BYTES = 65536;
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe('a terminal\'s output at the pace of its reader', () => {
  let container: Docker.Container;
  let scenarioId: string;
  let dir: string;
  let server: AccessListener;
  let socketPath: string;
  const clients: WebSocket[] = [];

  before(async () => {
    container = await startSubjectContainer({ name: 'tpace', script: SUBJECT, ready: 'prepared' });
    scenarioId = (await container.inspect()).Name.replace(/^\/arbiter-/, '');
    dir = mkdtempSync(join(tmpdir(), 'arbiter-tpace-'));
    socketPath = join(dir, 'access.sock');
    server = await listenAccessServer(await buildAccessServer({ docker, registry: new AccessRegistry(dir), hostId: HOST, relaySecret: SECRET, log: silent, transferIdleMs: 60_000 }), `unix:${socketPath}`);
  });

  after(async () => {
    for (const c of clients) c.terminate();
    await server?.close().catch(() => undefined);
    await container?.remove({ force: true }).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** How many chunks the program in the container has written to its TTY so far. */
  const progress = async () => Number((await execInContainer(container, { cmd: ['cat', '/work/progress'], stdin: Buffer.alloc(0), cwd: '/', env: {}, user: '1000:1000', timeoutSeconds: 30 }, 1024)).stdout.toString().trim() || 0);

  /** A terminal past its first prompt; `received` counts the bytes it has been sent. */
  async function openTerminal(): Promise<{ client: WebSocket; received: () => number }> {
    const { token } = await mintToken('relay', { sub: 'subject:alice', scn: scenarioId, host: HOST, act: 'terminal', svc: 'main', user: '1000', rec: 1 << 20, max: 2 }, SECRET, { ttlSeconds: 600 });
    const client = new WebSocket(`ws+unix://${socketPath}:/v1/scenarios/${scenarioId}/terminal?cols=80&rows=24`, { headers: { authorization: `Bearer ${token}` } });
    clients.push(client);
    let received = 0;
    let shown = '';
    client.on('message', (data: Buffer) => {
      received += data.length;
      if (shown.length < 4096) shown += data.toString('latin1');
    });
    await new Promise<void>((resolve, reject) => {
      client.once('open', () => resolve());
      client.once('error', reject);
    });
    client.send(Buffer.from('echo "mark"-$((6*7))\r'), { binary: true });
    await waitFor('the shell\'s answer', async () => (shown.includes('mark-42') ? true : undefined), 30_000);
    return { client, received: () => received };
  }

  it('blocks a program printing to a client that stopped reading, and lets it go on once the client reads again', { timeout: 120_000 }, async () => {
    const { client, received } = await openTerminal();

    client.pause();
    const total = CHUNKS * CHUNK_BYTES;
    client.send(Buffer.from(`i=0; while [ $i -lt ${CHUNKS} ]; do head -c ${CHUNK_BYTES} /dev/zero; i=$((i+1)); echo $i > /work/progress; done; echo; echo printed-all\r`), { binary: true });
    const stalledAt = await waitForSteady('the program to block on its TTY', progress, { timeoutMs: 60_000, started: true });
    assert.ok(stalledAt < CHUNKS / 4, `the program wrote ${stalledAt} of ${CHUNKS} chunks (${stalledAt * CHUNK_BYTES} of ${total} bytes) to a client that read nothing`);

    client.resume();
    await waitFor('the program to print everything once its client reads', async () => ((await progress()) === CHUNKS ? true : undefined), 90_000);
    await waitFor('every byte it printed to reach the client', async () => (received() >= total ? true : undefined), 30_000);
    client.terminate();
  });

  it('takes keystrokes at the pace of the program reading them: a paste into a shell that reads nothing waits with its client', { timeout: 60_000 }, async () => {
    const { client } = await openTerminal();
    client.send(Buffer.from('sleep 300\r'), { binary: true });
    const pasted = 24;
    for (let i = 0; i < pasted; i++) client.send(Buffer.alloc(1024 * 1024, 0x61), { binary: true });
    // What the host has not read stays with the client: stable, and most of the paste.
    const waiting = await waitForSteady('the host to stop reading the paste', async () => client.bufferedAmount, { timeoutMs: 30_000 });
    assert.ok(waiting > (pasted / 2) * 1024 * 1024, `${waiting} bytes of ${pasted} MiB still wait with the client: the host took the rest into memory`);
    client.terminate();
  });
});
