// What every artifact store must do, run against each implementation (the local folder in
// test/unit/artifact-store.test.ts, a real versitygw in test/e2e/artifact-store-s3.test.ts).
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { deleteTree, downloadTree, uploadTree, type ArtifactStore } from '../../infra/artifact-store.ts';

export function storeContract(store: () => ArtifactStore): void {
  const scratch = () => mkdtempSync(join(tmpdir(), 'arbiter-store-contract-'));
  const unique = () => `scenarios/scn-${randomBytes(6).toString('hex')}`;

  it('puts, gets, lists and deletes by key; a missing key reads as undefined', async () => {
    const s = store();
    const base = unique();
    await s.put(`${base}/results/score.json`, '{"score":1}');
    await s.put(`${base}/results/evidence/a/b.txt`, Buffer.from([0, 1, 2, 255]));
    await s.put(`${base}/tombstone.json`, 'x');
    assert.equal((await s.get(`${base}/results/score.json`))?.toString(), '{"score":1}');
    assert.deepEqual([...(await s.get(`${base}/results/evidence/a/b.txt`))!], [0, 1, 2, 255]);
    assert.equal(await s.get(`${base}/results/nothing.json`), undefined);
    assert.equal(await s.exists(`${base}/results/score.json`), true);
    assert.equal(await s.exists(`${base}/results/nothing.json`), false);
    assert.deepEqual(await s.list(`${base}/results`), [`${base}/results/evidence/a/b.txt`, `${base}/results/score.json`]);
    assert.deepEqual(await s.children(base), ['results', 'tombstone.json']);
    await s.delete(`${base}/results/score.json`);
    await s.delete(`${base}/results/score.json`); // deleting twice is not an error
    assert.equal(await s.get(`${base}/results/score.json`), undefined);
    assert.deepEqual(await s.list(`${base}/results`), [`${base}/results/evidence/a/b.txt`]);
    assert.equal(await deleteTree(s, base), 2);
    assert.deepEqual(await s.list(base), []);
  });

  it('refuses keys that could leave the store, and a read larger than asked for', async () => {
    const s = store();
    for (const bad of ['', '/abs', 'a//b', 'a/../b', '../x', 'a/', 'a\\b']) await assert.rejects(s.put(bad, 'x'), /not an artifact key/, JSON.stringify(bad));
    const key = `${unique()}/big`;
    await s.put(key, Buffer.alloc(4096));
    await assert.rejects(s.get(key, 1000), /over the 1000/);
  });

  it('uploads a folder as exactly that tree (stale keys go), streams it back, and the bytes match', async () => {
    const s = store();
    const dir = scratch();
    try {
      const src = join(dir, 'src');
      mkdirSync(join(src, 'services', 'db'), { recursive: true });
      const big = randomBytes(3 * 1024 * 1024 + 17);
      writeFileSync(join(src, 'big.bin'), big);
      writeFileSync(join(src, 'services', 'db', 'logs.txt'), 'db log');
      writeFileSync(join(src, 'manifest.json'), '{}');
      const prefix = `${unique()}/results/evidence`;
      await s.put(`${prefix}/left-over-from-an-earlier-attempt.txt`, 'stale');
      assert.equal(await uploadTree(s, src, prefix, { last: 'manifest.json' }), 3);
      assert.deepEqual(await s.list(prefix), [`${prefix}/big.bin`, `${prefix}/manifest.json`, `${prefix}/services/db/logs.txt`]);
      const back = join(dir, 'back');
      assert.equal(await downloadTree(s, prefix, back), 3);
      assert.ok(readFileSync(join(back, 'big.bin')).equals(big));
      assert.equal(readFileSync(join(back, 'services', 'db', 'logs.txt'), 'utf8'), 'db log');
      assert.deepEqual(readdirSync(back).sort(), ['big.bin', 'manifest.json', 'services']);
      const stream = await s.getStream(`${prefix}/big.bin`);
      let n = 0;
      for await (const chunk of stream!) n += (chunk as Buffer).length;
      assert.equal(n, big.length);
      assert.equal(await s.getStream(`${prefix}/none`), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
