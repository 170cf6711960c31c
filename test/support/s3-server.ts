// A real SeaweedFS for tests: one `weed mini` process (master, volume, filer, S3 gateway) with its
// own data folder and its own S3 port on 127.0.0.1, a fresh identity, a bucket; stopped and removed
// by stop(). The binary is the one scripts/bootstrap-seaweedfs.sh built (WEED_BIN in tools.env).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { S3ArtifactStore } from '../../infra/artifact-store.ts';
import { tools } from './harness.ts';

export interface SeaweedFs {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** the variables that select this store (ARBITER_ARTIFACT_STORE=s3 ...) */
  env: Record<string, string>;
  store: S3ArtifactStore;
  /** the server's log so far, for failure messages */
  log(): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export function weedBin(): string {
  const bin = (tools() as Record<string, string | undefined>).WEED_BIN;
  if (!bin) throw new Error('WEED_BIN missing from .data/tools.env: run bash scripts/bootstrap-seaweedfs.sh');
  return bin;
}

export async function startSeaweedFs(bucket = 'arbiter-test'): Promise<SeaweedFs> {
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-seaweedfs-'));
  const port = await freePort();
  const accessKeyId = `test-${randomBytes(6).toString('hex')}`;
  const secretAccessKey = randomBytes(24).toString('base64url');
  writeFileSync(join(dir, 's3.json'), JSON.stringify({ identities: [{ name: 'arbiter', credentials: [{ accessKey: accessKeyId, secretKey: secretAccessKey }], actions: ['Admin', 'Read', 'List', 'Tagging', 'Write'] }] }), { mode: 0o600 });
  const logFile = join(dir, 'weed.log');
  const out = openSync(logFile, 'a');
  // The other ports (master, volume, filer and their gRPC) are left to `weed mini`, which takes
  // free ones; only S3's is fixed, so the test knows where to connect.
  const child: ChildProcess = spawn(weedBin(), [
    'mini', `-dir=${join(dir, 'data')}`, '-ip=127.0.0.1', '-ip.bind=127.0.0.1',
    `-s3.port=${port}`, `-s3.config=${join(dir, 's3.json')}`, '-s3.port.iceberg=0', '-s3.port.lance=0',
    '-webdav=false', '-admin.ui=false', '-master.telemetry=false',
  ], { stdio: ['ignore', out, out] });
  closeSync(out);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  const endpoint = `http://127.0.0.1:${port}`;
  const settings = { endpoint, bucket, region: 'us-east-1', credentials: { accessKeyId, secretAccessKey } };
  const store = new S3ArtifactStore(settings);
  const stop = async () => {
    store.client.destroy();
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise<'slow'>((r) => setTimeout(() => r('slow'), 30_000).unref())]);
      if (code === 'slow') {
        child.kill('SIGKILL');
        await exited;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ready = store.ensureBucket(120_000);
    const died = exited.then((code) => { throw new Error(`weed mini exited (${code}) before it was ready:\n${log().slice(-3000)}`); });
    await Promise.race([ready, died]);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    endpoint, bucket, accessKeyId, secretAccessKey, store, log, stop,
    env: { ARBITER_ARTIFACT_STORE: 's3', ARBITER_S3_ENDPOINT: endpoint, ARBITER_S3_BUCKET: bucket, ARBITER_S3_REGION: 'us-east-1', ARBITER_S3_ACCESS_KEY_ID: accessKeyId, ARBITER_S3_SECRET_ACCESS_KEY: secretAccessKey },
  };
}
