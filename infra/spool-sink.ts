// Bytes held as they come, until whoever needs them whole is ready: a file read from a container
// (up to 100 MiB) is answered only once its transcript entry, with the sha256 of every byte (taken
// on the way), is on disk; an upload sent without a length is written into the container only once
// it is whole. The first few MiB wait in memory; past that, all of them wait in a file of this
// host, and the answer streams them from there.
import { createHash, type Hash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { Readable, Writable } from 'node:stream';
import type { StreamedBytes } from './transcript-log.ts';

const SPOOL_CHUNK_BYTES = 1024 * 1024;

export interface SpoolOptions {
  /** at most this many bytes are kept; `truncated` says more came */
  cap: number;
  /** digest the bytes and keep this many of the first (the transcript's recorded prefix); without it, only held */
  record?: { keepBytes: number };
  /** up to this many are held in memory; one byte more and they all go to the file */
  memoryBytes: number;
}

export class SpoolSink extends Writable {
  /** bytes kept: at most `cap` */
  size = 0;
  /** more than `cap` bytes came; those past it were dropped */
  truncated = false;
  private fd: number | undefined;
  private spilled = false;
  private held: Buffer[] = [];
  private readonly hash: Hash | undefined;
  private readonly keepBytes: number;
  private readonly head: Buffer[] = [];
  private headBytes = 0;

  /** `file`: where the bytes go past `memoryBytes`; created then, and only then. */
  constructor(readonly file: string, private readonly opts: SpoolOptions) {
    super();
    this.hash = opts.record ? createHash('sha256') : undefined;
    this.keepBytes = opts.record?.keepBytes ?? 0;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error) => void): void {
    const room = this.opts.cap - this.size;
    if (chunk.length > room) this.truncated = true;
    if (room <= 0) return cb();
    const kept = chunk.subarray(0, room);
    try {
      if (!this.spilled && this.size + kept.length <= this.opts.memoryBytes) this.held.push(kept);
      else this.toFile(kept);
    } catch (err) {
      return cb(err as Error);
    }
    this.hash?.update(kept);
    if (this.headBytes < this.keepBytes) {
      const part = Buffer.from(kept.subarray(0, this.keepBytes - this.headBytes));
      this.head.push(part);
      this.headBytes += part.length;
    }
    this.size += kept.length;
    cb();
  }

  private toFile(bytes: Buffer): void {
    if (!this.spilled) {
      mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
      this.fd = openSync(this.file, 'wx', 0o600);
      this.spilled = true;
      const held = this.held;
      this.held = [];
      for (const b of held) this.writeAll(b);
    }
    this.writeAll(bytes);
  }

  private writeAll(bytes: Buffer): void {
    for (let at = 0; at < bytes.length;) at += writeSync(this.fd!, bytes, at);
  }

  /** Empty: an exec's outcome carries none of it, since its bytes come from `answer`. */
  bytes(): Buffer {
    return Buffer.alloc(0);
  }

  /** Size, sha256 and first bytes of what was kept. */
  digest(): StreamedBytes {
    if (!this.hash) throw new Error('a spool is digested only when asked to record');
    return { size: this.size, sha256: this.hash.copy().digest('hex'), head: Buffer.concat(this.head) };
  }

  /**
   * What was kept: the bytes held in memory, or a stream that owns the file, whose name is gone
   * at once (its descriptor keeps the bytes), so nothing is left on disk however the stream ends.
   */
  answer(): Buffer | Readable {
    if (!this.spilled) return Buffer.concat(this.held);
    this.closeWriter();
    const fd = openSync(this.file, 'r');
    rmSync(this.file, { force: true });
    // Read synchronously, a chunk at a time, from what is in the page cache: fs streams read on
    // libuv's thread pool, where the host worker's other file work queues them.
    return new Readable({
      highWaterMark: SPOOL_CHUNK_BYTES,
      read() {
        const chunk = Buffer.allocUnsafe(SPOOL_CHUNK_BYTES);
        let n: number;
        try {
          n = readSync(fd, chunk, 0, SPOOL_CHUNK_BYTES, null);
        } catch (err) {
          this.destroy(err as Error);
          return;
        }
        this.push(n > 0 ? chunk.subarray(0, n) : null);
      },
      destroy(err, cb) {
        closeSync(fd);
        cb(err);
      },
    });
  }

  /** Drops what was kept. */
  discard(): void {
    this.held = [];
    if (!this.spilled) return;
    this.closeWriter();
    rmSync(this.file, { force: true });
  }

  private closeWriter(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}
