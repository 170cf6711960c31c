// The S3 artifact store against a real S3-compatible server: Versity Gateway (versitygw) over a
// POSIX folder, started here with its own folder and port on 127.0.0.1, and stopped after. The same contract the
// local folder meets (test/support/store-contract.ts), and what only a remote store must say.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { S3ArtifactStore } from '../../infra/artifact-store.ts';
import { loadConfig } from '../../infra/config.ts';
import { startS3Server, type S3Server } from '../support/s3-server.ts';
import { storeContract } from '../support/store-contract.ts';

describe('S3 artifact store on versitygw', () => {
  let server: S3Server;
  before(async () => { server = await startS3Server(); });
  after(async () => { await server?.stop(); });

  storeContract(() => server.store);

  it('is what the config selects, and a wrong secret is refused by the server, not ignored', async () => {
    const config = loadConfig({ ...server.env });
    assert.ok(config.artifactStore.kind === 's3');
    const store = new S3ArtifactStore(config.artifactStore);
    await store.put('probe/ok.txt', 'ok');
    assert.equal((await server.store.get('probe/ok.txt'))?.toString(), 'ok');
    const forged = new S3ArtifactStore({ endpoint: server.endpoint, bucket: server.bucket, region: 'us-east-1', credentials: { accessKeyId: server.accessKeyId, secretAccessKey: 'not-the-secret' } });
    await assert.rejects(forged.get('probe/ok.txt'), (err: Error) => /SignatureDoesNotMatch|AccessDenied|Forbidden|InvalidAccessKeyId/i.test(`${err.name} ${err.message}`));
    forged.client.destroy();
    store.client.destroy();
  });
});
