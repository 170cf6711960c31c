// Where artifacts live: the evidence and results of each scenario, tombstones, the public JWKS.
// The local folder (ARBITER_STORAGE_DIR) is the default; an S3-compatible bucket
// (ARBITER_ARTIFACT_STORE=s3) lets every worker and the API reach them from other machines.
// Keys are the folder's relative paths (CONTRACT.md "artifact layout"), so a bucket and a folder
// hold the same tree and `arbiter results download` turns one into the other.
//
// A process may still write a working copy on its own disk (a container host collects evidence
// there and bind-mounts it into the scorer), then uploads it with uploadTree; nothing reads
// another process's working copy.
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile, open } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  HeadBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  paginateListObjectsV2,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';

export interface ArtifactStore {
  /** says where, for messages: a folder path or s3://bucket at an endpoint */
  readonly description: string;
  /** false for the local folder: a working copy under the same folder is already stored */
  readonly remote: boolean;
  put(key: string, body: Buffer | string): Promise<void>;
  /** streams a file from disk (evidence files may be large) */
  putFile(key: string, file: string): Promise<void>;
  /** the whole object, or undefined when there is none; refuses one above maxBytes */
  get(key: string, maxBytes?: number): Promise<Buffer | undefined>;
  getStream(key: string): Promise<Readable | undefined>;
  exists(key: string): Promise<boolean>;
  /** every key under prefix (a folder: "a/b" lists "a/b/..."), sorted */
  list(prefix: string): Promise<string[]>;
  /** the names one level under prefix that hold keys ("scenarios" lists scenario ids), sorted */
  children(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
}

/** Upper bound of one get() into memory, where the caller gives none. */
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/** Keys are relative paths of plain segments: no "..", no empty segment, no leading slash. */
export function checkKey(key: string): string {
  if (key === '' || key.startsWith('/') || key.endsWith('/') || key.split('/').some((s) => s === '' || s === '.' || s === '..') || key.includes('\\') || key.includes('\0')) {
    throw new Error(`not an artifact key: ${JSON.stringify(key)}`);
  }
  return key;
}

export class LocalArtifactStore implements ArtifactStore {
  readonly remote = false;
  readonly root: string;
  constructor(root: string) {
    this.root = resolve(root);
  }

  get description(): string {
    return this.root;
  }

  /** The file a key is kept in. */
  path(key: string): string {
    return join(this.root, ...checkKey(key).split('/'));
  }

  async put(key: string, body: Buffer | string): Promise<void> {
    const file = this.path(key);
    await mkdir(dirname(file), { recursive: true });
    // Readers never see half an artifact: the rename is atomic.
    await writeFile(`${file}.tmp`, body, { mode: 0o644 });
    await rename(`${file}.tmp`, file);
  }

  async putFile(key: string, file: string): Promise<void> {
    const target = this.path(key);
    if (resolve(file) === target) return;
    await mkdir(dirname(target), { recursive: true });
    const out = await open(`${target}.tmp`, 'w', 0o644);
    await pipeline(createReadStream(file), out.createWriteStream());
    await rename(`${target}.tmp`, target);
  }

  async get(key: string, maxBytes = DEFAULT_MAX_BYTES): Promise<Buffer | undefined> {
    const file = this.path(key);
    try {
      const s = await stat(file);
      if (!s.isFile()) return undefined;
      if (s.size > maxBytes) throw new Error(`${key} is ${s.size} bytes, over the ${maxBytes} read here`);
      return await readFile(file);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async getStream(key: string): Promise<Readable | undefined> {
    return (await this.exists(key)) ? createReadStream(this.path(key)) : undefined;
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.path(key))).isFile();
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const base = this.path(prefix);
    const keys: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (isMissing(err) || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
        throw err;
      }
      for (const e of entries) {
        const full = join(dir, e.name);
        if (e.isDirectory()) await walk(full);
        // A .tmp is a write in flight (or one a crash interrupted), not an artifact.
        else if (e.isFile() && !e.name.endsWith('.tmp')) keys.push(relative(this.root, full).split(sep).join('/'));
      }
    };
    await walk(base);
    return keys.sort();
  }

  async children(prefix: string): Promise<string[]> {
    try {
      return (await readdir(this.path(prefix), { withFileTypes: true })).filter((e) => e.isDirectory() || (e.isFile() && !e.name.endsWith('.tmp'))).map((e) => e.name).sort();
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }
}

export interface S3StoreSettings {
  /** http(s) URL of an S3-compatible server; undefined: AWS's own endpoint for the region */
  endpoint: string | undefined;
  bucket: string;
  region: string;
  /** undefined: the SDK's default chain (AWS_ACCESS_KEY_ID..., profiles) */
  credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
}

export class S3ArtifactStore implements ArtifactStore {
  readonly remote = true;
  readonly client: S3Client;
  constructor(readonly settings: S3StoreSettings) {
    this.client = new S3Client({
      region: settings.region,
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      // Self-hosted servers answer on one host name: bucket in the path, not in a subdomain.
      forcePathStyle: settings.endpoint !== undefined,
      ...(settings.credentials ? { credentials: settings.credentials } : {}),
      // Checksums only where S3 requires them: not every S3-compatible server reads the SDK's
      // newer trailing checksums, and evidence carries its own sha256 in the signed manifest.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 5,
    });
  }

  /** The bucket answers to these credentials (readiness). */
  async check(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.settings.bucket }));
  }

  /**
   * Waits until the server answers (up to deadlineMs), then creates the bucket if it is missing.
   * For dev servers and tests: a production bucket is made with its policies beforehand.
   */
  async ensureBucket(deadlineMs = 60_000): Promise<void> {
    const until = Date.now() + deadlineMs;
    let last: unknown;
    for (;;) {
      try {
        await this.client.send(new HeadBucketCommand({ Bucket: this.settings.bucket }));
        return;
      } catch (err) {
        last = err;
        if (err instanceof S3ServiceException && err.$metadata?.httpStatusCode === 404) {
          try {
            await this.client.send(new CreateBucketCommand({ Bucket: this.settings.bucket }));
            return;
          } catch (createErr) {
            // Another process created it first, or the gateway is not quite up yet: look again.
            last = createErr;
          }
        }
      }
      if (Date.now() > until) throw new Error(`${this.description} did not answer within ${deadlineMs} ms: ${(last as Error)?.message ?? String(last)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  get description(): string {
    return `s3://${this.settings.bucket}${this.settings.endpoint ? ` at ${this.settings.endpoint}` : ''}`;
  }

  async put(key: string, body: Buffer | string): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.settings.bucket, Key: checkKey(key), Body: typeof body === 'string' ? Buffer.from(body) : body }));
  }

  async putFile(key: string, file: string): Promise<void> {
    const { size } = await stat(file);
    // A known length lets one PUT stream the file (up to S3's 5 GiB, far above evidence's caps).
    await this.client.send(new PutObjectCommand({ Bucket: this.settings.bucket, Key: checkKey(key), Body: createReadStream(file), ContentLength: size }));
  }

  async get(key: string, maxBytes = DEFAULT_MAX_BYTES): Promise<Buffer | undefined> {
    const body = await this.object(key);
    if (!body) return undefined;
    if (body.length !== undefined && body.length > maxBytes) {
      body.stream.destroy();
      throw new Error(`${key} is ${body.length} bytes, over the ${maxBytes} read here`);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of body.stream) {
      total += (chunk as Buffer).length;
      if (total > maxBytes) {
        body.stream.destroy();
        throw new Error(`${key} is over the ${maxBytes} bytes read here`);
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  async getStream(key: string): Promise<Readable | undefined> {
    return (await this.object(key))?.stream;
  }

  private async object(key: string): Promise<{ stream: Readable; length: number | undefined } | undefined> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.settings.bucket, Key: checkKey(key) }));
      return { stream: out.Body as Readable, length: out.ContentLength };
    } catch (err) {
      if (isS3Missing(err)) return undefined;
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.settings.bucket, Key: checkKey(key) }));
      return true;
    } catch (err) {
      if (isS3Missing(err)) return false;
      throw err;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const page of paginateListObjectsV2({ client: this.client }, { Bucket: this.settings.bucket, Prefix: `${checkKey(prefix)}/` })) {
      for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
    }
    return keys.sort();
  }

  async children(prefix: string): Promise<string[]> {
    const names = new Set<string>();
    const base = `${checkKey(prefix)}/`;
    for await (const page of paginateListObjectsV2({ client: this.client }, { Bucket: this.settings.bucket, Prefix: base, Delimiter: '/' })) {
      for (const p of page.CommonPrefixes ?? []) if (p.Prefix) names.add(p.Prefix.slice(base.length, -1));
      for (const o of page.Contents ?? []) if (o.Key) names.add(o.Key.slice(base.length));
    }
    return [...names].sort();
  }

  async delete(key: string): Promise<void> {
    // S3 answers 204 whether or not the key was there: deleting is idempotent.
    await this.client.send(new DeleteObjectCommand({ Bucket: this.settings.bucket, Key: checkKey(key) }));
  }
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}

function isS3Missing(err: unknown): boolean {
  if (!(err instanceof S3ServiceException)) return false;
  return err.name === 'NoSuchKey' || err.name === 'NotFound' || err.$metadata?.httpStatusCode === 404;
}

/** Runs fn over items, at most `width` at a time. */
async function eachLimited<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(lanes);
}

const TRANSFER_WIDTH = 8;

/** Every regular file under dir, as relative '/'-paths. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    for (const e of entries) {
      const full = join(d, e.name);
      if (e.isDirectory()) await walk(full);
      else if (e.isFile()) out.push(relative(dir, full).split(sep).join('/'));
    }
  };
  await walk(dir);
  return out.sort();
}

/**
 * Makes the store's tree under prefix exactly the folder's: every file uploaded, every stored key
 * the folder does not have deleted (an interrupted earlier upload leaves nothing behind that a
 * verifier would name as unexpected). A local store whose folder this is already holds it.
 */
export async function uploadTree(store: ArtifactStore, dir: string, prefix: string, opts: { last?: string } = {}): Promise<number> {
  if (store instanceof LocalArtifactStore && store.path(prefix) === resolve(dir)) return (await store.list(prefix)).length;
  const files = await filesUnder(dir);
  const wanted = new Set(files.map((f) => `${prefix}/${f}`));
  const stale = (await store.list(prefix)).filter((k) => !wanted.has(k));
  await eachLimited(stale, TRANSFER_WIDTH, (k) => store.delete(k));
  // `last` (a manifest) goes up after everything it describes: where it is stored, all of it is.
  const last = opts.last;
  await eachLimited(files.filter((f) => f !== last), TRANSFER_WIDTH, (f) => store.putFile(`${prefix}/${f}`, join(dir, f)));
  if (last && files.includes(last)) await store.putFile(`${prefix}/${last}`, join(dir, last));
  return files.length;
}

/** Copies every key under prefix into dir (relative paths kept); returns how many. */
export async function downloadTree(store: ArtifactStore, prefix: string, dir: string): Promise<number> {
  const keys = await store.list(prefix);
  await eachLimited(keys, TRANSFER_WIDTH, async (key) => {
    const file = join(dir, ...key.slice(prefix.length + 1).split('/'));
    await mkdir(dirname(file), { recursive: true });
    const stream = await store.getStream(key);
    if (!stream) return; // deleted between the listing and now
    const out = await open(file, 'w', 0o644);
    await pipeline(stream, out.createWriteStream());
  });
  return keys.length;
}

/** Deletes every key under prefix; returns how many there were. */
export async function deleteTree(store: ArtifactStore, prefix: string): Promise<number> {
  const keys = await store.list(prefix);
  // A folder's emptied directories would stay behind: remove the tree itself.
  if (store instanceof LocalArtifactStore) {
    await rm(store.path(prefix), { recursive: true, force: true });
    return keys.length;
  }
  await eachLimited(keys, TRANSFER_WIDTH, (k) => store.delete(k));
  return keys.length;
}

export type ArtifactStoreConfig = { kind: 'local' } | ({ kind: 's3' } & S3StoreSettings);

/** The store a process's configuration selects. */
export function openArtifactStore(config: { storageDir: string; artifactStore: ArtifactStoreConfig }): ArtifactStore {
  const c = config.artifactStore;
  return c.kind === 's3' ? new S3ArtifactStore(c) : new LocalArtifactStore(config.storageDir);
}
