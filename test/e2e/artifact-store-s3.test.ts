// The S3 artifact store against a real S3-compatible server: SeaweedFS (`weed mini`), started
// here with its own data folder and port on 127.0.0.1, and stopped after. The same contract the
// local folder meets (test/support/store-contract.ts), and what only a remote store must say.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { S3ArtifactStore } from '../../infra/artifact-store.ts';
import { loadConfig } from '../../infra/config.ts';
import { startSeaweedFs, type SeaweedFs } from '../support/seaweedfs.ts';
import { storeContract } from '../support/store-contract.ts';

describe('S3 artifact store on SeaweedFS', () => {
  let server: SeaweedFs;
  before(async () => { server = await startSeaweedFs(); });
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
