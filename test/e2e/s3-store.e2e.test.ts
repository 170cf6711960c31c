// The scenario flow with the S3 artifact store, end to end on the real stack (Temporal dev server,
// Docker, OPA, both workers, API over loopback) against a real SeaweedFS started here: a scored
// scenario's results are in the bucket and nowhere else, the API serves them, a downloaded copy
// verifies with `arbiter verify`, and retention's expiry deletes them from the bucket, leaving the
// tombstone and the audit log.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { resultsDir, resultsKey, RESULTS } from '../../infra/results.ts';
import { tombstoneKey } from '../../infra/retention-storage.ts';
import { JWKS_KEY, publicJwks } from '../../infra/keys.ts';
import type { ScenarioState } from '../../contract/scenario.ts';
import type { Tombstone } from '../../contract/retention.ts';
import { verifyChainText } from '../../lib/audit-chain.ts';
import { containersOf, REPO, waitFor } from '../support/harness.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { startSeaweedFs, type SeaweedFs } from '../support/seaweedfs.ts';
import { storedResults } from '../support/stored-results.ts';

const run = promisify(execFile);
const YEAR_MS = 365 * 24 * 3600 * 1000;

describe('a scenario with its artifacts in an S3 store (SeaweedFS)', () => {
  let server: SeaweedFs;
  let stack: Stack;
  let scratch: string;
  before(async () => {
    server = await startSeaweedFs('arbiter-e2e');
    // The sweep judges deadlines a year ahead: the scored scenario is due at once.
    stack = await startStack({ env: server.env, retentionClock: async () => Date.now() + YEAR_MS });
    scratch = mkdtempSync(join(tmpdir(), 'arbiter-s3-e2e-'));
  });
  after(async () => {
    await stack?.stop();
    await server?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  const cli = (args: string[]) => run(process.execPath, [join(REPO, 'bin', 'arbiter.js'), ...args], {
    env: { ...process.env, ARBITER_ENV_FILE: '/nonexistent', ARBITER_STORAGE_DIR: join(scratch, 'cli-storage'), ...server.env },
  });

  it('scores into the bucket, serves and verifies from it, and retention deletes from it leaving the tombstone', async () => {
    const satToken = await stack.sat(await stack.et());
    const spawned = await stack.call('POST', '/api/spawn', satToken, {});
    assert.equal(spawned.status, 202, JSON.stringify(spawned.json));
    const id = spawned.json!.scenarioId as string;
    await waitFor('running', async () => ((await stack.call('GET', `/api/scenarios/${id}`, satToken)).json?.status === 'running' ? true : undefined));
    const done = await stack.call('POST', `/api/scenarios/${id}/complete`, await stack.completionToken(id), { outcome: 'success', submission: { answer: 'hello' } });
    assert.equal(done.status, 202, JSON.stringify(done.json));
    const scored = await waitFor('scored', async () => {
      const r = await stack.call('GET', `/api/scenarios/${id}`, satToken);
      if (r.json?.status === 'failed') throw new Error(`scenario failed: ${String(r.json.reason)}`);
      return r.json?.status === 'scored' ? (r.json as unknown as ScenarioState) : undefined;
    }, 120_000);
    assert.deepEqual(scored.score, { score: 2, maxScore: 2, passed: true });

    // The results are in the bucket, exactly the folder layout, and the host kept no copy.
    const keys = await server.store.list(resultsKey(id));
    const names = keys.map((k) => k.slice(resultsKey(id).length + 1));
    for (const name of [RESULTS.audit, RESULTS.score, RESULTS.verdict, RESULTS.envelope, `${RESULTS.evidenceDir}/manifest.json`]) assert.ok(names.includes(name), `${name} is in the bucket (${names.join(', ')})`);
    assert.ok(names.filter((n) => n.startsWith(`${RESULTS.evidenceDir}/`)).length >= 8, 'the evidence is in the bucket');
    assert.equal(existsSync(resultsDir(stack.t.config.storageDir, id)), false, 'no working copy left on the container host');
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
    const verified = await cli(['verify', folder, '--keys', stack.t.config.keysDir]);
    assert.match(verified.stdout, new RegExp(`verified: ${id} scored score 2/2`));
    const withStoreKeys = await cli(['verify', folder, '--keys', join(scratch, 'jwks.json')]);
    assert.match(withStoreKeys.stdout, /verified: /);
    // Into a folder that is not empty: refused, nothing mixed.
    await assert.rejects(cli(['results', 'download', id, folder]), (err: { code: number; stderr: string }) => err.code !== 0 && /not empty/.test(err.stderr));
    // The same helper the other e2e tests use reads through the store.
    const viaHelper = await storedResults(stack.t.config, id);
    assert.equal(readFileSync(join(viaHelper.dir, RESULTS.verdict), 'utf8'), readFileSync(join(folder, RESULTS.verdict), 'utf8'));
    viaHelper.cleanup();

    // Retention: the sweep finds the verdict in the bucket and expires it.
    const sweep = await stack.call('POST', '/api/retention/sweep', await stack.operator(), { dryRun: false });
    assert.equal(sweep.status, 200, JSON.stringify(sweep.json));
    assert.deepEqual(sweep.json!.deleted, [id]);
    assert.deepEqual(await server.store.list(resultsKey(id)), [resultsKey(id, RESULTS.audit)], 'only the audit log is left of the results');
    const tomb = JSON.parse((await server.store.get(tombstoneKey(id)))!.toString('utf8')) as Tombstone;
    assert.equal(tomb.scenarioId, id);
    assert.deepEqual(tomb.removed, [RESULTS.evidenceDir, RESULTS.score, RESULTS.envelope, RESULTS.verdict].sort());
    assert.equal(tomb.verdict?.envelopeSha256.length, 64);
    const audit = (await server.store.get(resultsKey(id, RESULTS.audit)))!.toString('utf8');
    const chain = verifyChainText(audit);
    assert.ok(chain.ok && chain.head === tomb.auditHead, 'the audit log in the bucket records the deletion and ends at the tombstone\'s head');
    assert.match(audit, /retention\.deleted/);
    const after = await stack.call('GET', `/api/scenarios/${id}`, satToken);
    assert.equal(after.json?.status, 'expired');
    assert.equal((await stack.call('GET', `/api/scenarios/${id}/verdict`, satToken)).status, 404);
    await assert.rejects(cli(['results', 'download', id, join(scratch, 'after-expiry')]), (err: { code: number; stdout: string }) => {
      assert.equal(err.code, 1);
      assert.match(err.stdout, /deleted by retention at .*only its audit log is left/);
      return true;
    });
    assert.deepEqual(await containersOf(id), []);
  });
});
