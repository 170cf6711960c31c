// A file upload's bytes as they arrive, for the two processes that pass one on without holding it
// whole: the API relays it to the container host (api/routes/access.ts), the host writes it into
// the container (workers/access-server.ts). Each byte is counted against the contract's limit as
// it passes; the host also digests them for the transcript and keeps the first few it records.
// Beside it, the hooks of the routes that stream a transfer, either way.
import { createHash, type Hash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { ArbiterError, BadRequestError } from '../lib/errors.ts';
import type { StreamedBytes } from './transcript-log.ts';

export interface UploadStreamOptions {
  /** more bytes than this fail the upload with the contract's 413 */
  limit: number;
  /** digest the bytes and keep this many of the first (0 keeps none); without it, only counted */
  record?: { keepBytes: number };
  /** an upload that makes no progress for this long is cut short, as if its client had gone */
  idleMs?: number;
}

/**
 * The upload read from `source`: more than `limit` bytes fail it with the contract's 413, and a
 * client that goes away before its last byte fails it with a 400 `incomplete_body`. A reader that
 * passes it on must treat that failure as "cut short", never as its end: a file written from it
 * would be truncated.
 */
export class UploadStream extends Transform {
  bytes = 0;
  private readonly hash: Hash | undefined;
  private readonly keepBytes: number;
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  private digested: StreamedBytes | undefined;
  private idle: NodeJS.Timeout | undefined;

  constructor(source: Readable, private readonly opts: UploadStreamOptions) {
    super();
    this.hash = opts.record ? createHash('sha256') : undefined;
    this.keepBytes = opts.record?.keepBytes ?? 0;
    // Whoever reads it listens for its failure; one cut short before anyone did must not crash the process.
    this.on('error', () => undefined);
    const cut = (why = 'the client closed the connection') => {
      if (!this.destroyed) this.destroy(new BadRequestError(`the upload ended before its last byte (${why})`, 'incomplete_body'));
    };
    if (opts.idleMs !== undefined) {
      const idleMs = opts.idleMs;
      // Neither a byte from the client nor room for one downstream: a stalled upload would hold a
      // call, and the container's write behind it, for as long as its client keeps the socket.
      this.idle = setTimeout(() => cut(`it made no progress for ${idleMs / 1000} s`), idleMs).unref();
      this.once('close', () => clearTimeout(this.idle));
      this.once('end', () => clearTimeout(this.idle));
    }
    source.once('aborted', () => cut());
    source.once('error', () => cut());
    source.once('close', () => {
      if (!source.readableEnded) cut();
    });
    // Its client may have gone before this was made (a request waits for its checks first): its
    // end will never come.
    if (source.destroyed && !source.readableEnded) process.nextTick(cut);
    source.pipe(this);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, next: TransformCallback): void {
    this.idle?.refresh();
    this.bytes += chunk.length;
    if (this.bytes > this.opts.limit) return next(new ArbiterError('payload_too_large', 413, `the file is larger than ${this.opts.limit} bytes`));
    this.hash?.update(chunk);
    if (this.headBytes < this.keepBytes) {
      // Copied: a slice would hold on to the whole buffer it was cut from.
      const part = Buffer.from(chunk.subarray(0, this.keepBytes - this.headBytes));
      this.head.push(part);
      this.headBytes += part.length;
    }
    next(null, chunk);
  }

  /** Size, sha256 and first bytes of the whole upload: once it has ended (see `drain`). */
  digest(): StreamedBytes {
    if (!this.hash || !this.readableEnded) throw new Error('an upload is digested once it has ended, and only when asked to record');
    this.digested ??= { size: this.bytes, sha256: this.hash.digest('hex'), head: Buffer.concat(this.head) };
    return this.digested;
  }

  /**
   * Reads what is left to its end, counting and digesting it: a write the container refused
   * before its last byte is still recorded with every byte the caller sent. Rejects with the
   * upload's failure (cut short, too large).
   */
  drain(): Promise<void> {
    if (this.readableEnded) return Promise.resolve();
    if (this.errored) return Promise.reject(this.errored);
    return new Promise((resolve, reject) => {
      this.once('end', resolve);
      this.once('error', reject);
      this.resume();
    });
  }
}

/**
 * An `onSend` hook for a route that reads its body as a stream. A request answered before its
 * body was read to the end (refused by a schema, a limit, the handler) has the rest dropped as it
 * comes, and its connection closes after the answer, which no further request can follow. Dropped
 * rather than left unread, so the client, done sending, reads the answer (unread bytes would make
 * the close a reset).
 */
export async function closeIfUnread<T>(request: { raw: IncomingMessage }, reply: { header(name: string, value: string): unknown }, payload: T): Promise<T> {
  const raw = request.raw;
  if (!raw.complete) {
    reply.header('connection', 'close');
    raw.unpipe();
    raw.resume();
  }
  return payload;
}

/**
 * An `onSend` hook: an answer its reader takes nothing of for `idleMs` has its connection closed,
 * so what it holds (an exec's output, a spooled file, the call's slot) is freed. Armed as the
 * answer is sent, never before: a call may work silently for as long as its own timeout allows.
 */
export function cutIfUntaken(idleMs: number) {
  return async <T>(_request: unknown, reply: { raw: ServerResponse }, payload: T): Promise<T> => {
    reply.raw.setTimeout(idleMs, () => reply.raw.destroy());
    return payload;
  };
}
