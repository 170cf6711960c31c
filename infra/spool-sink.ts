// A process's output written to a file of this host as it comes, digested on the way: a file read
// from a container (up to 100 MiB) is answered only once its transcript entry, with the sha256 of
// every byte, is on disk, so its bytes must wait somewhere until then. Here they wait on disk, not
// in the host's memory, and the answer streams them from there.
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import type { StreamedBytes } from './transcript-log.ts';

export class SpoolSink extends Writable {
  /** bytes written to the file: at most `cap` */
  size = 0;
  /** more than `cap` bytes came; those past it were dropped */
  truncated = false;
  private fd: number | undefined;
  private readonly hash = createHash('sha256');
  private readonly head: Buffer[] = [];
  private headBytes = 0;

  constructor(readonly file: string, private readonly opts: { cap: number; keepBytes: number }) {
    super();
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    this.fd = openSync(file, 'wx', 0o600);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error) => void): void {
    const room = this.opts.cap - this.size;
    if (chunk.length > room) this.truncated = true;
    if (room <= 0 || this.fd === undefined) return cb();
    const kept = chunk.subarray(0, room);
    try {
      for (let at = 0; at < kept.length;) at += writeSync(this.fd, kept, at);
    } catch (err) {
      return cb(err as Error);
    }
    this.hash.update(kept);
    if (this.headBytes < this.opts.keepBytes) {
      const part = Buffer.from(kept.subarray(0, this.opts.keepBytes - this.headBytes));
      this.head.push(part);
      this.headBytes += part.length;
    }
    this.size += kept.length;
    cb();
  }

  /** Nothing is held in memory: the bytes are in the file (`open`). */
  bytes(): Buffer {
    return Buffer.alloc(0);
  }

  /** Size, sha256 and first bytes of what was written. */
  digest(): StreamedBytes {
    return { size: this.size, sha256: this.hash.copy().digest('hex'), head: Buffer.concat(this.head) };
  }

  /**
   * What was written, as a stream that owns it: the file's name is gone at once (its descriptor
   * keeps the bytes), so nothing is left on disk however the stream ends.
   */
  open(): Readable {
    this.closeWriter();
    const fd = openSync(this.file, 'r');
    rmSync(this.file, { force: true });
    return createReadStream('', { fd, autoClose: true });
  }

  /** Drops what was written. */
  discard(): void {
    this.closeWriter();
    rmSync(this.file, { force: true });
  }

  private closeWriter(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}
