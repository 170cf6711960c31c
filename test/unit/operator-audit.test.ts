// The global operator audit log as a file (infra/operator-audit.ts): concurrent appends from one
// process and from several keep one intact chain, and `arbiter audit verify --no-anchor` names the
// first broken entry for each kind of tampering, truncation of the log alone included (the log
// records its head beside it). Its anchor in Temporal, which catches the log and its head
// truncated together, is tested on the dev server in test/workflow/audit-anchor.test.ts.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AuditEntry } from '../../lib/audit-chain.ts';
import { operatorAuditLog, operatorAuditPath, recordOperatorAction } from '../../infra/operator-audit.ts';
import { REPO } from '../support/harness.ts';

const run = promisify(execFile);
const root = mkdtempSync(join(tmpdir(), 'arbiter-oplog-'));
after(() => rmSync(root, { recursive: true, force: true }));

const entries = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEntry);

describe('operator audit log: concurrent appends', () => {
  it('when 100 actions are recorded at once in one process, the chain is intact with 100 entries in sequence', async () => {
    const storage = join(root, 'in-process');
    await Promise.all(Array.from({ length: 100 }, (_, i) => recordOperatorAction({ storageDir: storage, temporal: undefined }, { actor: 'operator:olga', action: 'scenario.cancel', scenarioId: `scn-${i}` })));

    const check = operatorAuditLog({ storageDir: storage, temporal: undefined }).verify();
    assert.ok(check.ok, JSON.stringify(check));
    assert.equal(check.length, 100);
    assert.deepEqual(entries(operatorAuditPath(storage)).map((e) => e.seq), Array.from({ length: 100 }, (_, i) => i));
  });

  it('when four processes and this one append at the same time, no entry is lost and the chain never forks', async () => {
    const storage = join(root, 'multi-process');
    const children = ['a', 'b', 'c', 'd'].map((tag) =>
      run(process.execPath, ['--import', 'tsx', join(REPO, 'test', 'support', 'append-operator-audit.ts'), storage, '25', tag], { cwd: REPO }));
    const local = Array.from({ length: 25 }, (_, i) => recordOperatorAction({ storageDir: storage, temporal: undefined }, { actor: 'operator:local', action: 'scenario.release', scenarioId: `scn-local-${i}` }));
    await Promise.all([...children, ...local]);

    const check = operatorAuditLog({ storageDir: storage, temporal: undefined }).verify();
    assert.ok(check.ok, JSON.stringify(check));
    assert.equal(check.length, 125);
    const byActor = new Map<string, number>();
    for (const e of entries(operatorAuditPath(storage))) byActor.set(e.actor, (byActor.get(e.actor) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries(byActor), { 'operator:a': 25, 'operator:b': 25, 'operator:c': 25, 'operator:d': 25, 'operator:local': 25 });
  });
});

describe('arbiter audit verify on the operator log', () => {
  const storage = join(root, 'tamper');
  const cli = (file: string) =>
    run(process.execPath, [join(REPO, 'bin', 'arbiter.js'), 'audit', 'verify', '--no-anchor', file], { env: { ...process.env, ARBITER_ENV_FILE: '/nonexistent' } })
      .then((r) => ({ code: 0, stdout: r.stdout }), (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }));

  /** A copy of the log (and its recorded head) with its lines rewritten by `edit`. */
  function tampered(name: string, edit: (lines: string[]) => string[]): string {
    const dir = join(root, 'copies', name);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'operator.jsonl');
    const source = operatorAuditPath(storage);
    copyFileSync(`${source}.head`, `${file}.head`);
    writeFileSync(file, edit(readFileSync(source, 'utf8').split('\n').filter(Boolean)).map((l) => `${l}\n`).join(''));
    return file;
  }

  it('an intact log verifies; each tampering is caught at the first broken entry', async () => {
    for (let i = 0; i < 6; i++) await recordOperatorAction({ storageDir: storage, temporal: undefined }, { actor: 'operator:olga', action: 'scenario.hold', scenarioId: `scn-${i}` });
    const edit = (l: string[]) => l.map((line, i) => (i === 3 ? line.replace('operator:olga', 'operator:mallory') : line));
    const cases: Array<[string, string, RegExp]> = [
      ['edited', tampered('edited', edit), /BROKEN at entry 3: entry 3 was modified/],
      ['deleted', tampered('deleted', (l) => l.filter((_, i) => i !== 2)), /BROKEN at entry 2: entry 2 has sequence 3/],
      ['inserted', tampered('inserted', (l) => [...l.slice(0, 4), l[1]!, ...l.slice(4)]), /BROKEN at entry 4: entry 4 has sequence 1/],
      ['reordered', tampered('reordered', (l) => [l[0]!, l[2]!, l[1]!, ...l.slice(3)]), /BROKEN at entry 1: entry 1 has sequence 2/],
      ['truncated', tampered('truncated', (l) => l.slice(0, 4)), /BROKEN at entry 4: .*truncated or rewritten/],
    ];
    const [intact, ...broken] = await Promise.all([cli(operatorAuditPath(storage)), ...cases.map(([, file]) => cli(file))]);

    assert.equal(intact.code, 0, intact.stdout);
    assert.match(intact.stdout, /audit chain intact: 6 entries/);
    for (const [i, [what, , expected]] of cases.entries()) {
      assert.equal(broken[i]!.code, 1, `${what}: ${broken[i]!.stdout}`);
      assert.match(broken[i]!.stdout, expected, what);
    }
  });
});
