// A process's output spooled to the host's disk (infra/spool-sink.ts): digested on the way with
// its first bytes kept, capped, and gone from the disk once it is answered or dropped.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpoolSink } from '../../infra/spool-sink.ts';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const parts = [Buffer.from('abcdef'), Buffer.from('ghij'), Buffer.from('klmnop')];

async function written(sink: SpoolSink, chunks: Buffer[]): Promise<void> {
  for (const c of chunks) await new Promise<void>((resolve, reject) => sink.write(c, (err) => (err ? reject(err) : resolve())));
}
async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const got: Buffer[] = [];
  for await (const c of stream) got.push(c as Buffer);
  return Buffer.concat(got);
}

describe('spool sink', () => {
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-spool-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps every byte on disk, digested, with the first ones held, and answers them from a file already gone by name', async () => {
    const sink = new SpoolSink(join(dir, 'nested', 'a'), { cap: 100, keepBytes: 8 });
    await written(sink, parts);
    const all = Buffer.concat(parts);
    assert.deepEqual(sink.digest(), { size: all.length, sha256: sha256(all), head: Buffer.from('abcdefgh') });
    assert.equal(sink.truncated, false);
    assert.equal(sink.bytes().length, 0, 'nothing of it is held in memory for the answer');
    const answer = sink.open();
    assert.equal(existsSync(sink.file), false);
    assert.deepEqual(await readAll(answer), all);
  });

  it('stops at its cap and says more came', async () => {
    const sink = new SpoolSink(join(dir, 'b'), { cap: 8, keepBytes: 0 });
    await written(sink, parts);
    assert.equal(sink.truncated, true);
    assert.deepEqual(sink.digest(), { size: 8, sha256: sha256(Buffer.from('abcdefgh')), head: Buffer.alloc(0) });
    assert.deepEqual(await readAll(sink.open()), Buffer.from('abcdefgh'));
  });

  it('leaves nothing when dropped', async () => {
    const sink = new SpoolSink(join(dir, 'c'), { cap: 100, keepBytes: 4 });
    await written(sink, parts);
    sink.discard();
    assert.equal(existsSync(sink.file), false);
  });
});
