// The local folder store (the default) against the store contract, and what only it does: a
// working copy already in place is not copied onto itself, and deleting a tree leaves no folders.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteTree, LocalArtifactStore, openArtifactStore, uploadTree } from '../../infra/artifact-store.ts';
import { loadConfig } from '../../infra/config.ts';
import { ConfigError } from '../../lib/errors.ts';
import { storeContract } from '../support/store-contract.ts';

describe('local artifact store', () => {
  const root = mkdtempSync(join(tmpdir(), 'arbiter-local-store-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  storeContract(() => new LocalArtifactStore(root));

  it('keeps keys as the files of the storage folder layout', async () => {
    const s = openArtifactStore({ storageDir: root, artifactStore: { kind: 'local' } });
    assert.ok(s instanceof LocalArtifactStore);
    assert.equal(s.remote, false);
    await s.put('scenarios/scn-layout-0001/results/score.json', '{}');
    assert.ok(existsSync(join(root, 'scenarios', 'scn-layout-0001', 'results', 'score.json')));
    // No temporary file is left beside it, and one left by a crash is not listed.
    writeFileSync(join(root, 'scenarios', 'scn-layout-0001', 'results', 'verdict.json.tmp'), 'half');
    assert.deepEqual(await s.list('scenarios/scn-layout-0001'), ['scenarios/scn-layout-0001/results/score.json']);
  });

  it('an upload of the folder the store already is copies nothing; deleting a tree removes its folders', async () => {
    const s = new LocalArtifactStore(root);
    const evidence = join(root, 'scenarios', 'scn-layout-0002', 'results', 'evidence');
    mkdirSync(join(evidence, 'services', 'db'), { recursive: true });
    writeFileSync(join(evidence, 'services', 'db', 'log.txt'), 'x');
    writeFileSync(join(evidence, 'manifest.json'), '{}');
    assert.equal(await uploadTree(s, evidence, 'scenarios/scn-layout-0002/results/evidence'), 2);
    assert.deepEqual(readdirSync(evidence).sort(), ['manifest.json', 'services']);
    assert.equal(await deleteTree(s, 'scenarios/scn-layout-0002/results/evidence'), 2);
    assert.deepEqual(readdirSync(join(root, 'scenarios', 'scn-layout-0002', 'results')), []);
  });
});

describe('artifact store configuration', () => {
  const s3 = { ARBITER_ARTIFACT_STORE: 's3', ARBITER_S3_ENDPOINT: 'http://127.0.0.1:7070', ARBITER_S3_BUCKET: 'arbiter', ARBITER_S3_ACCESS_KEY_ID: 'id', ARBITER_S3_SECRET_ACCESS_KEY: 'secret' };

  it('is the storage folder unless ARBITER_ARTIFACT_STORE=s3 selects a bucket', () => {
    assert.deepEqual(loadConfig({}).artifactStore, { kind: 'local' });
    assert.deepEqual(loadConfig(s3).artifactStore, { kind: 's3', endpoint: 'http://127.0.0.1:7070', bucket: 'arbiter', region: 'us-east-1', credentials: { accessKeyId: 'id', secretAccessKey: 'secret' } });
    // The AWS SDK's own credentials are enough: nothing Arbiter-specific is then required.
    const { ARBITER_S3_ACCESS_KEY_ID: _i, ARBITER_S3_SECRET_ACCESS_KEY: _s, ...bare } = s3;
    assert.equal((loadConfig({ ...bare, AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' }).artifactStore as { credentials?: unknown }).credentials, undefined);
  });

  it('stops a process with a bad store configuration at start, naming the variable', () => {
    const named = (name: string) => (err: Error) => err instanceof ConfigError && err.message.includes(name);
    assert.throws(() => loadConfig({ ARBITER_ARTIFACT_STORE: 'gcs' }), named('ARBITER_ARTIFACT_STORE'));
    assert.throws(() => loadConfig({ ...s3, ARBITER_S3_BUCKET: 'Bad_Bucket' }), named('ARBITER_S3_BUCKET'));
    assert.throws(() => loadConfig({ ...s3, ARBITER_S3_BUCKET: '' }), named('ARBITER_S3_BUCKET'));
    assert.throws(() => loadConfig({ ...s3, ARBITER_S3_ENDPOINT: '127.0.0.1:7070' }), named('ARBITER_S3_ENDPOINT'));
    assert.throws(() => loadConfig({ ...s3, ARBITER_S3_ENDPOINT: 'http://127.0.0.1:7070/bucket' }), named('ARBITER_S3_ENDPOINT'));
    assert.throws(() => loadConfig({ ...s3, ARBITER_S3_REGION: 'US East' }), named('ARBITER_S3_REGION'));
    const { ARBITER_S3_SECRET_ACCESS_KEY: _secret, ...noSecret } = s3;
    assert.throws(() => loadConfig(noSecret), named('ARBITER_S3_SECRET_ACCESS_KEY'));
    const { ARBITER_S3_ACCESS_KEY_ID: _id, ARBITER_S3_SECRET_ACCESS_KEY: _s, ...noCredentials } = s3;
    assert.throws(() => loadConfig(noCredentials), (err: Error) => err instanceof ConfigError && /needs credentials/.test(err.message));
  });
});
