// The bundles scripts/stack.sh, the bench and the images run (scripts/build-workers.ts): each
// starts with plain node, refuses a bad configuration as its sources do, and, against a Temporal
// dev server, becomes ready. Readiness means the files found next to the sources resolve from
// dist/ too: the policy bundle (.data/policy, two folders above infra/policy/), the templates,
// the plans, the workflow sources the main worker bundles at start; /verify and the subject page
// compile their sources under api/ at first request.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { freshBundle, PROCESS_BUNDLES, type ProcessBundle } from '../../bin/cli-bundle.js';
import { buildProcessBundles } from '../../scripts/build-workers.ts';
import { SEARCH_ATTRIBUTES } from '../../contract/queues.ts';
import { generateKey } from '../../infra/keys.ts';
import { REPO, tools } from '../support/harness.ts';
import { freePort } from '../support/restartable.ts';

const NAMES = Object.keys(PROCESS_BUNDLES) as ProcessBundle[];

interface Started { proc: ChildProcess; output: () => string; exited: Promise<number | null> }

function start(name: ProcessBundle, env: NodeJS.ProcessEnv): Started {
  const proc = spawn(process.execPath, [join(REPO, 'dist', `${name}.mjs`)], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout.on('data', (d: Buffer) => { output += d.toString(); });
  proc.stderr.on('data', (d: Buffer) => { output += d.toString(); });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, output: () => output, exited };
}

async function stop(s: Started): Promise<void> {
  if (s.proc.exitCode !== null || s.proc.signalCode !== null) return;
  s.proc.kill('SIGTERM');
  const timer = setTimeout(() => s.proc.kill('SIGKILL'), 15_000);
  await s.exited;
  clearTimeout(timer);
}

/** Polls url until it answers 200 or the process exits (its output is the failure message). */
async function ready(s: Started, url: string, timeoutMs = 240_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (s.proc.exitCode !== null) assert.fail(`exited ${s.proc.exitCode} before ${url} answered 200:\n${s.output()}`);
    try {
      const res = await fetch(url);
      last = `${res.status} ${await res.text()}`;
      if (res.status === 200) return;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.fail(`${url} did not answer 200 in ${timeoutMs} ms (last: ${last}):\n${s.output()}`);
}

void describe('the worker and API bundles', () => {
  before(async () => {
    // As the bootstrap does: build only what no longer matches its sources.
    if (NAMES.some((n) => !freshBundle(REPO, n).fresh)) await buildProcessBundles();
    for (const n of NAMES) assert.equal(freshBundle(REPO, n).fresh, true, n);
  });

  for (const name of NAMES) {
    void it(`when dist/${name}.mjs starts with ARBITER_RUNTIME=runz, it exits 2 naming the variable`, { timeout: 60_000 }, async () => {
      const s = start(name, { PATH: process.env.PATH, HOME: process.env.HOME, ARBITER_MODE: 'production', ARBITER_RUNTIME: 'runz', COMPLETION_HMAC_SECRET: 'c'.repeat(32), ET_HMAC_SECRET: 'c'.repeat(32), SAT_HMAC_SECRET: 'c'.repeat(32), OPERATOR_HMAC_SECRET: 'c'.repeat(32) });

      const code = await s.exited;

      assert.equal(code, 2, s.output());
      assert.match(s.output(), /"msg":"ARBITER_RUNTIME must be/);
    });
  }

  void describe('against a Temporal dev server', () => {
    let env: TestWorkflowEnvironment;
    let dir: string;
    before(async () => {
      Runtime.install({ logger: new DefaultLogger('WARN') });
      env = await TestWorkflowEnvironment.createLocal({
        server: {
          executable: { type: 'existing-path', path: tools().TEMPORAL_BIN },
          ip: '127.0.0.1',
          extraArgs: Object.entries(SEARCH_ATTRIBUTES).flatMap(([n, type]) => ['--search-attribute', `${n}=${type}`]),
        },
      });
      dir = mkdtempSync(join(tmpdir(), 'arbiter-bundles-'));
      await generateKey(join(dir, 'keys'));
    });
    after(async () => {
      await env?.teardown();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    void it('the main worker, the container worker and the API each become ready, and the API serves /verify and the subject page', { timeout: 420_000 }, async () => {
      const secret = () => randomBytes(32).toString('base64url');
      const [mainOps, containerOps, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
      const common: NodeJS.ProcessEnv = {
        PATH: process.env.PATH, HOME: process.env.HOME,
        ARBITER_MODE: 'production',
        ET_HMAC_SECRET: secret(), SAT_HMAC_SECRET: secret(), OPERATOR_HMAC_SECRET: secret(), COMPLETION_HMAC_SECRET: secret(), RELAY_HMAC_SECRET: secret(),
        TEMPORAL_ADDRESS: env.address,
        ARBITER_STORAGE_DIR: join(dir, 'storage'),
        ARBITER_KEYS_DIR: join(dir, 'keys'),
        ARBITER_ACCESS_SOCKET_DIR: join(dir, 'access'),
        ARBITER_HOST_ID: `bundles-${randomBytes(3).toString('hex')}`,
        // No warm pool: its entries would outlive the test (pooled-flag declares one).
        ARBITER_POOLS: 'none',
        DOCKER_SOCKET: process.env.DOCKER_SOCKET ?? '/var/run/docker.sock',
        TEMPORAL_METRICS_ADDRESS: 'off',
        LOG_LEVEL: 'warn',
      };
      const started = [
        // No ARBITER_WORKFLOW_BUNDLE: dist/workflow-bundle.js when present, else workflows/ bundled at start.
        start('main-worker', { ...common, WORKER_HTTP_PORT: String(mainOps) }),
        start('container-worker', { ...common, WORKER_HTTP_PORT: String(containerOps) }),
        start('api-server', { ...common, PORT: String(apiPort), HOST: '127.0.0.1' }),
      ] as const;
      try {
        const [main, container, api] = started;
        const base = `http://127.0.0.1:${apiPort}`;

        await Promise.all([
          ready(main, `http://127.0.0.1:${mainOps}/readyz`),
          ready(container, `http://127.0.0.1:${containerOps}/readyz`),
          ready(api, `${base}/readyz`),
        ]);
        const verify = await fetch(`${base}/verify`);
        const page = await fetch(`${base}/scenarios/scn-bundles-test`);
        const html = await page.text();
        const script = /src="(\/scenarios\/assets\/[^"]+\.js)"/.exec(html)?.[1];
        const asset = script ? await fetch(`${base}${script}`) : undefined;

        assert.equal(verify.status, 200, await verify.text());
        assert.equal(page.status, 200, html);
        assert.ok(script, `the subject page names its script: ${html}`);
        assert.equal(asset?.status, 200);
      } finally {
        await Promise.all(started.map(stop));
      }
    });
  });
});
