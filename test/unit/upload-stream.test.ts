// An upload's bytes as they pass (infra/upload-stream.ts): counted against the limit, digested and
// the first of them kept for the transcript, and a source that goes away before its end is a
// failure, never an end.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UploadStream } from '../../infra/upload-stream.ts';

const chunks = [Buffer.from('abcdef'), Buffer.from('ghij'), Buffer.from('klmnopqrstuvwxyz')];
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Reads the upload to its end, or its failure; answers what passed. */
async function readAll(upload: UploadStream): Promise<{ passed: Buffer; error?: { code: string; statusCode: number } }> {
  const got: Buffer[] = [];
  const sink = new Writable({ write(c: Buffer, _e, next) { got.push(c); next(); } });
  try {
    await pipeline(upload, sink);
    return { passed: Buffer.concat(got) };
  } catch (err) {
    return { passed: Buffer.concat(got), error: { code: (err as { code: string }).code, statusCode: (err as { statusCode: number }).statusCode } };
  }
}

function sourceOf(parts: Buffer[], then: 'end' | 'destroy' = 'end'): PassThrough {
  const s = new PassThrough();
  for (const p of parts) s.write(p);
  if (then === 'end') s.end();
  else setImmediate(() => s.destroy());
  return s;
}

describe('upload stream', () => {
  it('passes every byte on, and digests them whole with the first ones kept, across chunk edges', async () => {
    const upload = new UploadStream(sourceOf(chunks), { limit: 100, record: { keepBytes: 8 } });
    const { passed, error } = await readAll(upload);
    assert.equal(error, undefined);
    const all = Buffer.concat(chunks);
    assert.deepEqual(passed, all);
    assert.deepEqual(upload.digest(), { size: all.length, sha256: sha256(all), head: Buffer.from('abcdefgh') });
  });

  it('keeps nothing with keepBytes 0, and the whole upload when it is smaller than keepBytes', async () => {
    const none = new UploadStream(sourceOf(chunks), { limit: 100, record: { keepBytes: 0 } });
    await readAll(none);
    assert.equal(none.digest().head.length, 0);
    const whole = new UploadStream(sourceOf(chunks), { limit: 100, record: { keepBytes: 1000 } });
    await readAll(whole);
    assert.deepEqual(whole.digest().head, Buffer.concat(chunks));
  });

  it('fails with the contract\'s 413 once the limit is passed, never passing the byte over it', async () => {
    const upload = new UploadStream(sourceOf(chunks), { limit: 10, record: { keepBytes: 4 } });
    const { passed, error } = await readAll(upload);
    assert.deepEqual(error, { code: 'payload_too_large', statusCode: 413 });
    assert.ok(passed.length <= 10);
    assert.throws(() => upload.digest(), /once it has ended/);
  });

  it('fails with incomplete_body when its source goes away before its end, also before the upload was made', async () => {
    const cut = await readAll(new UploadStream(sourceOf(chunks, 'destroy'), { limit: 100 }));
    assert.deepEqual(cut.error, { code: 'incomplete_body', statusCode: 400 });
    const gone = sourceOf(chunks.slice(0, 1), 'end');
    gone.destroy();
    const early = await readAll(new UploadStream(gone, { limit: 100 }));
    assert.deepEqual(early.error, { code: 'incomplete_body', statusCode: 400 });
  });

  it('cuts an upload short that makes no progress for its idle time, and not one that keeps coming', async () => {
    // The idle timer does not hold the process open (a server's socket does): here an interval does.
    const open = setInterval(() => undefined, 1000);
    try {
      const stalled = new PassThrough();
      stalled.write(chunks[0]);
      const cut = await readAll(new UploadStream(stalled, { limit: 100, idleMs: 30 }));
      assert.deepEqual(cut.error, { code: 'incomplete_body', statusCode: 400 });
      assert.deepEqual(cut.passed, chunks[0]);
      // Each byte comes well within the idle time, all of them together later than it.
      const trickled = Buffer.from('0123456789abcdefghijklmnopqrstuv');
      const slow = new PassThrough();
      let sent = 0;
      const tick = setInterval(() => (sent < trickled.length ? slow.write(trickled.subarray(sent, ++sent)) : (clearInterval(tick), slow.end())), 10);
      const whole = await readAll(new UploadStream(slow, { limit: 100, idleMs: 150 }));
      assert.equal(whole.error, undefined);
      assert.deepEqual(whole.passed, trickled);
    } finally {
      clearInterval(open);
    }
  });

  it('drains what a refusing reader left, so its digest still covers every byte sent', async () => {
    const upload = new UploadStream(sourceOf(chunks), { limit: 100, record: { keepBytes: 3 } });
    // A reader that took one chunk and stopped.
    await new Promise<void>((resolve) => upload.once('data', () => { upload.pause(); resolve(); }));
    await upload.drain();
    const all = Buffer.concat(chunks);
    assert.deepEqual(upload.digest(), { size: all.length, sha256: sha256(all), head: Buffer.from('abc') });
    const cut = new UploadStream(sourceOf(chunks, 'destroy'), { limit: 100, record: { keepBytes: 3 } });
    await assert.rejects(cut.drain(), { code: 'incomplete_body' });
  });
});
