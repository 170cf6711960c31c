// The real entry points stop at start on a malformed variable, name it on stderr and never reach
// Temporal, the policy server or anything else: the test listens where they would connect.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { countingListener, type CountingListener } from '../support/counting-listener.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const SECRET = 'c'.repeat(32);

interface Exit { code: number | null; signal: NodeJS.Signals | null; stderr: string }

void describe('bad configuration at start', () => {
  let dir: string;
  // Stands in for Temporal and the OPA server.
  let listener: CountingListener;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'arbiter-config-start-'));
    listener = await countingListener();
  });

  after(async () => {
    await listener.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A production-like environment whose every network address is the counting listener. */
  function env(overrides: Record<string, string>): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ARBITER_MODE: 'production',
      ET_HMAC_SECRET: SECRET,
      SAT_HMAC_SECRET: SECRET,
      OPERATOR_HMAC_SECRET: SECRET,
      COMPLETION_HMAC_SECRET: SECRET,
      TEMPORAL_ADDRESS: listener.address,
      OPA_URL: `http://${listener.address}`,
      ARBITER_STORAGE_DIR: join(dir, 'storage'),
      ARBITER_KEYS_DIR: join(dir, 'keys'),
      DOCKER_SOCKET: join(dir, 'no-docker.sock'),
      PORT: '0',
      WORKER_HTTP_PORT: 'off',
      TEMPORAL_METRICS_ADDRESS: 'off',
      ...overrides,
    };
  }

  function start(entry: string, overrides: Record<string, string>) {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, entry)], { cwd: REPO, env: env(overrides), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<Exit>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
    return { child, exited };
  }

  for (const [entry, name, value] of [
    ['api/server.ts', 'ARBITER_RUNTIME', 'runz'],
    ['workers/container.ts', 'WORKER_HTTP_PORT', '90x1'],
  ] as const) {
    void it(`when ${entry} starts with ${name}=${value}, it exits 2 naming ${name} on stderr and connects nowhere`, { timeout: 60_000 }, async () => {
      const before = listener.connections();

      const { code, signal, stderr } = await start(entry, { [name]: value }).exited;

      assert.equal(signal, null);
      assert.equal(code, 2, stderr);
      assert.match(stderr, new RegExp(`"msg":"${name}[^"]* must be`));
      assert.equal(listener.connections(), before, 'a process that fails its configuration must not connect anywhere');
    });
  }

  // Without this, "connects nowhere" above could hold only because nothing ever connects here.
  void it('when api/server.ts starts with the same environment but a good ARBITER_RUNTIME, it does connect to the listener', { timeout: 60_000 }, async () => {
    const connected = listener.nextConnection();
    const { child, exited } = start('api/server.ts', { ARBITER_RUNTIME: 'runsc' });
    try {
      const first = await Promise.race([connected.then(() => 'connected' as const), exited]);

      assert.equal(first, 'connected', typeof first === 'string' ? first : first.stderr);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  });
});
