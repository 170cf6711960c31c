// A real S3 server for tests: Versity Gateway (versitygw) over a POSIX folder of the test's own,
// on its own port on 127.0.0.1, with a fresh root account and a bucket; stopped and removed by
// stop(). The binary is the one scripts/bootstrap-store.sh built (VERSITYGW_BIN in tools.env).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { S3ArtifactStore } from '../../infra/artifact-store.ts';
import { tools } from './harness.ts';

export interface S3Server {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** the folder versitygw serves: buckets are its subfolders, objects the files below them */
  root: string;
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

export function versitygwBin(): string {
  const bin = tools().VERSITYGW_BIN;
  if (!bin) throw new Error('VERSITYGW_BIN missing from .data/tools.env: run bash scripts/bootstrap-store.sh');
  return bin;
}

export async function startS3Server(bucket = 'arbiter-test'): Promise<S3Server> {
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-s3-'));
  const root = join(dir, 'root');
  mkdirSync(root);
  const port = await freePort();
  const accessKeyId = `test-${randomBytes(6).toString('hex')}`;
  const secretAccessKey = randomBytes(24).toString('base64url');
  const logFile = join(dir, 'versitygw.log');
  const out = openSync(logFile, 'a');
  // The root account through the environment, not argv (which any process may read).
  const child: ChildProcess = spawn(versitygwBin(), ['--port', `127.0.0.1:${port}`, '--quiet', 'posix', root], {
    stdio: ['ignore', out, out],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ROOT_ACCESS_KEY_ID: accessKeyId, ROOT_SECRET_ACCESS_KEY: secretAccessKey },
  });
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
    if (child.exitCode === null && child.signalCode === null) {
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
    const ready = store.ensureBucket(60_000);
    const died = exited.then((code) => { throw new Error(`versitygw exited (${code}) before it was ready:\n${log().slice(-3000)}`); });
    await Promise.race([ready, died]);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    endpoint, bucket, accessKeyId, secretAccessKey, root, store, log, stop,
    env: { ARBITER_ARTIFACT_STORE: 's3', ARBITER_S3_ENDPOINT: endpoint, ARBITER_S3_BUCKET: bucket, ARBITER_S3_REGION: 'us-east-1', ARBITER_S3_ACCESS_KEY_ID: accessKeyId, ARBITER_S3_SECRET_ACCESS_KEY: secretAccessKey },
  };
}
