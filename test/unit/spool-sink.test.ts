// A process's output held until its transcript entry is written (infra/spool-sink.ts): digested on
// the way with its first bytes kept, capped, in memory while small and on disk past that, and gone
// from the disk once it is answered or dropped.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { SpoolSink } from '../../infra/spool-sink.ts';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const parts = [Buffer.from('abcdef'), Buffer.from('ghij'), Buffer.from('klmnop')];
const all = Buffer.concat(parts);

async function written(sink: SpoolSink, chunks: Buffer[]): Promise<void> {
  for (const c of chunks) await new Promise<void>((resolve, reject) => sink.write(c, (err) => (err ? reject(err) : resolve())));
}
async function bytesOf(answer: Buffer | Readable): Promise<Buffer> {
  if (Buffer.isBuffer(answer)) return answer;
  const got: Buffer[] = [];
  for await (const c of answer) got.push(c as Buffer);
  return Buffer.concat(got);
}

describe('spool sink', () => {
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-spool-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('holds what fits in memory there, digested with the first bytes kept, and never touches the disk', async () => {
    const sink = new SpoolSink(join(dir, 'small', 'a'), { cap: 100, record: { keepBytes: 8 }, memoryBytes: all.length });
    await written(sink, parts);
    assert.deepEqual(sink.digest(), { size: all.length, sha256: sha256(all), head: Buffer.from('abcdefgh') });
    assert.equal(existsSync(join(dir, 'small')), false);
    assert.deepEqual(sink.answer(), all);
  });

  it('moves everything to its file once it passes the memory it may hold, and answers from a file already gone by name', async () => {
    const sink = new SpoolSink(join(dir, 'nested', 'b'), { cap: 100, record: { keepBytes: 8 }, memoryBytes: 8 });
    await written(sink, parts);
    assert.equal(existsSync(sink.file), true);
    assert.deepEqual(sink.digest(), { size: all.length, sha256: sha256(all), head: Buffer.from('abcdefgh') });
    const answer = sink.answer();
    assert.ok(!Buffer.isBuffer(answer), 'a stream, not bytes held');
    assert.equal(existsSync(sink.file), false);
    assert.deepEqual(await bytesOf(answer), all);
  });

  it('stops at its cap and says more came', async () => {
    const sink = new SpoolSink(join(dir, 'c'), { cap: 8, record: { keepBytes: 0 }, memoryBytes: 4 });
    await written(sink, parts);
    assert.equal(sink.truncated, true);
    assert.deepEqual(sink.digest(), { size: 8, sha256: sha256(Buffer.from('abcdefgh')), head: Buffer.alloc(0) });
    assert.deepEqual(await bytesOf(sink.answer()), Buffer.from('abcdefgh'));
  });

  it('leaves nothing when dropped', async () => {
    const sink = new SpoolSink(join(dir, 'd'), { cap: 100, record: { keepBytes: 4 }, memoryBytes: 4 });
    await written(sink, parts);
    assert.equal(existsSync(sink.file), true);
    sink.discard();
    assert.equal(existsSync(sink.file), false);
  });
});
