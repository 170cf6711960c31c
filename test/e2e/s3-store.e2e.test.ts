// The scenario flow with the S3 artifact store, end to end on the real stack (Temporal dev server,
// Docker, OPA, both workers, API over loopback) against a real S3 server (versitygw) started here: a
// scored scenario's results are in the bucket and nowhere else, the API serves them, a downloaded
// copy verifies with `arbiter verify`, and the retention sweep finds scenarios by listing the
// bucket. Retention's deletion from the bucket, which needs days to pass, is in the time-skipping
// test/workflow/retention-s3.test.ts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { resultsDir, resultsKey, RESULTS } from '../../infra/results.ts';
import { tombstoneKey } from '../../infra/retention-storage.ts';
import { JWKS_KEY, publicJwks } from '../../infra/keys.ts';
import type { ScenarioState } from '../../contract/scenario.ts';
import { containersOf, REPO, waitFor } from '../support/harness.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { startS3Server, type S3Server } from '../support/s3-server.ts';
import { storedResults } from '../support/stored-results.ts';

const run = promisify(execFile);
const YEAR_MS = 365 * 24 * 3600 * 1000;

describe('a scenario with its artifacts in an S3 store (versitygw)', () => {
  let server: S3Server;
  let stack: Stack;
  let scratch: string;
  before(async () => {
    server = await startS3Server('arbiter-e2e');
    // The sweep judges deadlines a year ahead: the scored scenario is due at once.
    stack = await startStack({ env: server.env, retentionClock: async () => Date.now() + YEAR_MS });
    scratch = mkdtempSync(join(tmpdir(), 'arbiter-s3-e2e-'));
  });
  after(async () => {
    await stack?.stop();
    await server?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  const cli = (args: string[], env: Record<string, string> = {}) => run(process.execPath, [join(REPO, 'bin', 'arbiter.js'), ...args], {
    env: { ...process.env, ARBITER_ENV_FILE: '/nonexistent', ARBITER_STORAGE_DIR: join(scratch, 'cli-storage'), ...server.env, ...env },
  });

  /** A scenario spawned with this SAT, completed with the right answer, once it reads `until`. */
  async function runScenario(satToken: string, until: (s: ScenarioState) => boolean): Promise<{ id: string; state: ScenarioState }> {
    const spawned = await stack.call('POST', '/api/spawn', satToken, {});
    assert.equal(spawned.status, 202, JSON.stringify(spawned.json));
    const id = spawned.json!.scenarioId as string;
    await waitFor('running', async () => ((await stack.call('GET', `/api/scenarios/${id}`, satToken)).json?.status === 'running' ? true : undefined));
    const done = await stack.call('POST', `/api/scenarios/${id}/complete`, await stack.completionToken(id), { outcome: 'success', submission: { answer: 'hello' } });
    assert.equal(done.status, 202, JSON.stringify(done.json));
    let last: unknown;
    const state = await waitFor(`${id} to end`, async () => {
      const r = await stack.call('GET', `/api/scenarios/${id}`, satToken);
      last = r.json;
      if (r.json?.status === 'failed') throw new Error(`scenario failed: ${String(r.json.reason)}`);
      return until(r.json as unknown as ScenarioState) ? (r.json as unknown as ScenarioState) : undefined;
    }, 120_000).catch((err: Error) => { throw new Error(`${err.message}; it last read ${JSON.stringify(last)}`); });
    return { id, state };
  }

  let kept: string;

  it('scores into the bucket and nowhere else; the API serves verdict and keys from it; a download verifies offline', async () => {
    const satToken = await stack.sat(await stack.et());
    const { id, state: scored } = await runScenario(satToken, (s) => s.status === 'scored');
    kept = id;
    assert.deepEqual(scored.score, { score: 2, maxScore: 2, passed: true });

    // The results are in the bucket, exactly the folder layout, and the host kept no copy.
    const keys = await server.store.list(resultsKey(id));
    const names = keys.map((k) => k.slice(resultsKey(id).length + 1));
    for (const name of [RESULTS.audit, RESULTS.score, RESULTS.verdict, RESULTS.envelope, `${RESULTS.evidenceDir}/manifest.json`]) assert.ok(names.includes(name), `${name} is in the bucket (${names.join(', ')})`);
    assert.ok(names.filter((n) => n.startsWith(`${RESULTS.evidenceDir}/`)).length >= 8, 'the evidence is in the bucket');
    assert.equal(existsSync(resultsDir(stack.t.config.storageDir, id)), false, 'no working copy left on the container host');
    // versitygw keeps each object as a file under its folder: the bucket's tree is the results folder's.
    assert.ok(existsSync(join(server.root, server.bucket, ...resultsKey(id, RESULTS.envelope).split('/'))));
    // The public keys are published there too, and the API serves the same.
    const jwks = JSON.parse((await server.store.get(JWKS_KEY))!.toString('utf8')) as unknown;
    assert.deepEqual(jwks, await publicJwks(stack.t.config.keysDir));
    const served = await stack.call('GET', '/.well-known/arbiter/keys');
    assert.deepEqual(served.json, jwks);

    // The API reads the verdict from the bucket.
    const verdict = await stack.call('GET', `/api/scenarios/${id}/verdict`, satToken);
    assert.equal(verdict.status, 200, JSON.stringify(verdict.json));
    const envelope = (await server.store.get(resultsKey(id, RESULTS.envelope)))!.toString('utf8');
    assert.deepEqual(verdict.json!.envelope, JSON.parse(envelope));

    // Downloaded with the CLI from the store's config, the folder verifies offline.
    const folder = join(scratch, 'downloaded');
    const downloaded = await cli(['--json', 'results', 'download', id, folder, '--jwks', join(scratch, 'jwks.json')]);
    assert.equal((JSON.parse(downloaded.stdout) as { files: number }).files, keys.length);
    // Keys from outside the store: the deployment's key store (ARBITER_KEYS_DIR) ...
    const verified = await cli(['verify', folder], { ARBITER_KEYS_DIR: stack.t.config.keysDir });
    assert.match(verified.stdout, new RegExp(`verified: ${id} scored score 2/2`));
    // ... or the API's JWKS saved to a file; and the store's own copy (--jwks) verifies too.
    writeFileSync(join(scratch, 'api-jwks.json'), JSON.stringify(served.json));
    assert.match((await cli(['verify', folder, '--keys', join(scratch, 'api-jwks.json')])).stdout, new RegExp(`verified: ${id} scored`));
    const withStoreKeys = await cli(['verify', folder, '--keys', join(scratch, 'jwks.json')]);
    assert.match(withStoreKeys.stdout, new RegExp(`verified: ${id} scored`));
    // Into a folder that is not empty: refused, nothing mixed.
    await assert.rejects(cli(['results', 'download', id, folder]), (err: { code: number; stderr: string }) => err.code !== 0 && /not empty/.test(err.stderr));
    // The same helper the other e2e tests use reads through the store.
    const viaHelper = await storedResults(stack.t.config, id);
    assert.equal(readFileSync(join(viaHelper.dir, RESULTS.verdict), 'utf8'), readFileSync(join(folder, RESULTS.verdict), 'utf8'));
    viaHelper.cleanup();
    assert.deepEqual(await containersOf(id), []);
  });

  it('the retention sweep finds scored scenarios by listing the bucket (a dry run deletes nothing)', async () => {
    // A year on by the sweep's clock, the scored scenario is due; the dry run only lists it.
    const sweep = await stack.call('POST', '/api/retention/sweep', await stack.operator(), { dryRun: true });
    assert.equal(sweep.status, 200, JSON.stringify(sweep.json));
    assert.deepEqual(sweep.json, { dryRun: true, deleted: [kept], held: [], kept: [] });
    assert.ok(await server.store.exists(resultsKey(kept, RESULTS.envelope)), 'still there');
    assert.equal(await server.store.exists(tombstoneKey(kept)), false);
  });
});
