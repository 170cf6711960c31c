// The billing log (and any other chained log file): tampering of each kind is detected against
// the recorded head; concurrent appends never fork the chain.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { billingLog } from '../../infra/billing-log.ts';
import { ChainedLogFile } from '../../infra/chained-log.ts';

const root = mkdtempSync(join(tmpdir(), 'arbiter-chained-'));
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
async function logWith(count: number): Promise<ChainedLogFile> {
  const log = billingLog(join(root, `s${n++}`));
  for (let i = 0; i < count; i++) {
    await log.append({ time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(), actor: 'billing', event: 'receipt.accepted', data: { receiptId: `r${i}`, plan: i % 2 ? 'pro' : 'free' } });
  }
  return log;
}
const lines = (log: ChainedLogFile) => readFileSync(log.file, 'utf8').split('\n').filter(Boolean);
const rewrite = (log: ChainedLogFile, ls: string[]) => writeFileSync(log.file, ls.map((l) => `${l}\n`).join(''));

describe('billing log', () => {
  it('when untouched, it verifies and reports every receipt', async () => {
    const log = await logWith(5);
    const r = log.verify();
    assert.ok(r.ok);
    assert.equal(r.ok && r.length, 5);
  });

  it('when an entry is edited, verification fails at that entry', async () => {
    const log = await logWith(5);
    const ls = lines(log);
    ls[2] = ls[2]!.replace('"plan":"free"', '"plan":"enterprise"');
    rewrite(log, ls);
    const r = log.verify();
    assert.ok(!r.ok);
    assert.equal(!r.ok && r.brokenAt, 2);
  });

  it('when an entry is deleted, verification fails where the sequence breaks', async () => {
    const log = await logWith(5);
    const ls = lines(log);
    ls.splice(1, 1);
    rewrite(log, ls);
    const r = log.verify();
    assert.ok(!r.ok);
    assert.equal(!r.ok && r.brokenAt, 1);
  });

  it('when two entries are swapped, verification fails at the first of them', async () => {
    const log = await logWith(5);
    const ls = lines(log);
    [ls[3], ls[4]] = [ls[4]!, ls[3]!];
    rewrite(log, ls);
    const r = log.verify();
    assert.ok(!r.ok);
    assert.equal(!r.ok && r.brokenAt, 3);
  });

  it('when the tail is truncated, the recorded head catches it', async () => {
    const log = await logWith(5);
    rewrite(log, lines(log).slice(0, 3));
    const r = log.verify();
    assert.ok(!r.ok);
    assert.match(!r.ok ? r.reason : '', /recorded head/);
  });

  it('refuses to append to a chain that is already broken', async () => {
    const log = await logWith(3);
    const ls = lines(log);
    ls[0] = ls[0]!.replace('"r0"', '"rX"');
    rewrite(log, ls);
    await assert.rejects(log.append({ time: new Date().toISOString(), actor: 'billing', event: 'receipt.accepted' }), /refusing to append/);
  });

  it('when 40 appends race, the chain stays linear and complete', async () => {
    const log = await logWith(0);
    const other = new ChainedLogFile(log.file); // a second writer, as another process would be
    await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? log : other).append({ time: new Date().toISOString(), actor: 'billing', event: 'receipt.accepted', data: { i } })));
    const r = log.verify();
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.ok && r.length, 40);
  });
});
