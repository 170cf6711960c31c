// Shared fixtures for the workflow and end-to-end tests: real tool paths from the bootstrap,
// an isolated config (fresh secrets, storage and keys in a temp dir), and Docker look-ups.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { loadConfig, type Config } from '../../infra/config.ts';
import { generateKey } from '../../infra/keys.ts';
import { LABELS } from '../../activities/container-spec.ts';
import { clusterEnv, e2eShape, spanEngines } from './cluster.ts';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** INSPECT_PYTHON (the venv of clients/inspect) is only needed by the Inspect tests, so only they check it. */
export function tools(): { TEMPORAL_BIN: string; TEMPORAL_TEST_SERVER_BIN: string; OPA_BIN: string; INSPECT_PYTHON?: string; SCHEMATHESIS_BIN?: string; VERSITYGW_BIN?: string } {
  const file = join(REPO, '.data', 'tools.env');
  const vars = Object.fromEntries(
    readFileSync(file, 'utf8').split('\n').filter((l) => /^[A-Z_][A-Z0-9_]*=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  ) as Record<string, string>;
  for (const k of ['TEMPORAL_BIN', 'TEMPORAL_TEST_SERVER_BIN', 'OPA_BIN']) {
    if (!vars[k]) throw new Error(`${k} missing from ${file}: run scripts/bootstrap.sh`);
  }
  return vars as ReturnType<typeof tools>;
}

export interface TestConfig { config: Config; dir: string; cleanup(): void }

/** A production-mode config with fresh secrets and its own storage, keys and signing key. */
export async function testConfig(env: Record<string, string> = {}): Promise<TestConfig> {
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-test-'));
  const secret = () => randomBytes(32).toString('base64url');
  const config = loadConfig({
    ARBITER_MODE: 'production',
    ET_HMAC_SECRET: secret(),
    SAT_HMAC_SECRET: secret(),
    OPERATOR_HMAC_SECRET: secret(),
    COMPLETION_HMAC_SECRET: secret(),
    BILLING_HMAC_SECRET: secret(),
    RELAY_HMAC_SECRET: secret(),
    ARBITER_ACCESS_SOCKET_DIR: join(dir, 'access'),
    ARBITER_STORAGE_DIR: join(dir, 'storage'),
    ARBITER_KEYS_DIR: join(dir, 'keys'),
    ARBITER_HOST_ID: `t${randomBytes(3).toString('hex')}`,
    // No warm pool unless a test asks for one: a pooled entry would outlive the test's host id.
    ARBITER_POOLS: 'none',
    ...env,
  }, ['ET_HMAC_SECRET', 'SAT_HMAC_SECRET', 'OPERATOR_HMAC_SECRET', 'COMPLETION_HMAC_SECRET', 'BILLING_HMAC_SECRET', 'RELAY_HMAC_SECRET']);
  await generateKey(config.keysDir);
  return { config, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * The engine the tests look at: DOCKER_SOCKET's (the shared one) in the dev shape; in the cluster
 * shape (test/support/cluster.ts) both container hosts' engines, a container's methods going to
 * the engine that holds it.
 */
export const docker: Docker = e2eShape() === 'cluster'
  ? spanEngines(clusterEnv().engines.map((e) => new Docker({ socketPath: e.socket })))
  : new Docker({ socketPath: process.env.DOCKER_SOCKET ?? '/var/run/docker.sock' });

/** Every container, running or not, that Arbiter created for this scenario (on every engine the tests look at). */
export async function containersOf(scenarioId: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${LABELS.scenario}=${scenarioId}`] } });
}

/**
 * Polls a number until it has stopped moving: the same value three polls in a row (and, with
 * `started`, past zero), for what can only be seen as "no longer changes" (a blocked writer).
 */
export async function waitForSteady(what: string, probe: () => Promise<number>, opts: { timeoutMs: number; started?: boolean }): Promise<number> {
  const seen: number[] = [];
  return waitFor(what, async () => {
    seen.push(await probe());
    const last = seen.slice(-3);
    return last.length === 3 && (!opts.started || last[0]! > 0) && last.every((n) => n === last[0]) ? last[0] : undefined;
  }, opts.timeoutMs);
}

/** Polls a condition (not a fixed sleep) until it holds or the deadline passes. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
