// `arbiter verify` against folders an attacker prepared: a forged verdict with its own keys beside
// it, an edited verdict.json, FIFOs, link loops, device nodes, sparse giants, signals, and audit
// entries appended after the signed head. The command runs as a user runs it (a child process).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { appendEvent, type AuditEntry, serializeChain } from '../../lib/audit-chain.ts';
import { canonicalJson } from '../../lib/canonical-json.ts';
import { generateKey, loadSigner, type Signer } from '../../infra/keys.ts';
import { RESULTS, verifyResults } from '../../infra/results.ts';
import type { Statement } from '../../infra/verdict.ts';
import { runArbiter, writeSignedResults, type SignedResults } from '../support/signed-results.ts';
import { tempDir } from './helpers.ts';

const root = tempDir();
after(() => rmSync(root, { recursive: true, force: true }));
let count = 0;
const fresh = (label: string) => {
  const dir = join(root, `${label}-${count++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};

let keysDir: string;
let signer: Signer;
let jwksFile: string;

before(async () => {
  keysDir = join(root, 'deployment-keys');
  await generateKey(keysDir);
  signer = await loadSigner(keysDir);
  jwksFile = join(root, 'published-jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [signer.publicJwk] }));
});

const genuine = (label: string): Promise<SignedResults> => writeSignedResults(join(fresh(label), 'storage'), signer);
const verify = (...args: string[]) => runArbiter(['verify', ...args]);

void describe('arbiter verify: where the keys come from', () => {
  /** The review's attack: the score set to full marks, re-signed with the forger's key under the real kid, that key shipped beside it. */
  async function forgedBundle(): Promise<{ forged: string; results: string }> {
    const forged = fresh('forged');
    const forgerKeys = join(forged, 'forger-private');
    await generateKey(forgerKeys);
    const forger = await loadSigner(forgerKeys);
    const impostor: Signer = { ...forger, keyId: signer.keyId, publicJwk: { ...forger.publicJwk, kid: signer.keyId } };
    const { dir } = await writeSignedResults(join(forged), impostor, { score: { score: 3, maxScore: 3, passed: true, checks: [] } });
    rmSync(forgerKeys, { recursive: true });
    mkdirSync(join(forged, 'keys'));
    writeFileSync(join(forged, 'keys', 'jwks.json'), JSON.stringify({ keys: [impostor.publicJwk] }));
    return { forged, results: dir };
  }

  void it('when a forged folder ships its own jwks.json and no --keys is given, verify refuses with a usage error and verifies nothing', async () => {
    const { forged, results } = await forgedBundle();

    for (const cwd of [forged, results]) {
      const r = await runArbiter(['verify', results], { cwd });

      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^arbiter: verify needs public keys from outside the folders it checks: pass --keys/);
    }
  });

  void it('when ARBITER_KEYS_DIR is relative (resolved against the current folder, maybe the forged one), verify refuses', async () => {
    const { forged, results } = await forgedBundle();

    const r = await runArbiter(['verify', results], { cwd: forged, env: { ARBITER_KEYS_DIR: 'keys' } });

    assert.equal(r.code, 1);
    assert.match(r.stderr, /ARBITER_KEYS_DIR is "keys", a path relative to the current directory/);
    assert.doesNotMatch(r.stdout, /verified/);
  });

  void it('when the forged folder is checked against the real keys (--keys or the deployment key store), the signature fails and the key source is printed first', async () => {
    const { results } = await forgedBundle();

    const withKeys = await verify('--keys', jwksFile, results);
    const inDeployment = await runArbiter(['verify', results], { env: { ARBITER_KEYS_DIR: keysDir } });

    assert.equal(withKeys.code, 1);
    assert.equal(withKeys.stdout.split('\n')[0], `keys: ${jwksFile} (from --keys)`);
    assert.match(withKeys.stdout, new RegExp(`verification FAILED for ${results}:\\n {2}- signature: no valid signature by a known key`));
    assert.equal(inDeployment.code, 1);
    assert.equal(inDeployment.stdout.split('\n')[0], `keys: ${keysDir} (the deployment's key store, ARBITER_KEYS_DIR)`);
    assert.match(inDeployment.stdout, /signature: no valid signature/);
  });

  void it('when a genuine folder is checked with --keys, it verifies, and --json carries the key source in every object', async () => {
    const { dir } = await genuine('genuine');

    const human = await verify('--keys', jwksFile, dir);
    const json = await runArbiter(['--json', 'verify', '--keys', jwksFile, dir]);

    assert.equal(human.code, 0, human.stdout + human.stderr);
    assert.deepEqual(human.stdout.trim().split('\n'), [`keys: ${jwksFile} (from --keys)`, `verified: scn-0001 scored score 1/3 signed by ${signer.keyId}`]);
    const parsed = JSON.parse(json.stdout) as { ok: boolean; keys: { path: string; origin: string } };
    assert.deepEqual([parsed.ok, parsed.keys], [true, { path: jwksFile, origin: '--keys' }]);
  });
});

void describe('arbiter verify: verdict.json', () => {
  void it('when verdict.json is edited (subject, tenant, score) but the envelope is intact, verify exits 1 naming verdict.json', async () => {
    const { dir } = await genuine('edited-verdict');
    const file = join(dir, RESULTS.verdict);
    const statement = JSON.parse(readFileSync(file, 'utf8')) as Statement;
    statement.predicate.subject = 'mallory';
    statement.predicate.tenant = 'evil-corp';
    statement.predicate.score = { score: 3, maxScore: 3, passed: true };
    writeFileSync(file, canonicalJson(statement));

    const r = await verify('--keys', jwksFile, dir);

    assert.equal(r.code, 1);
    assert.match(r.stdout, / {2}- verdict\.json is not the signed statement/);
  });

  void it('when verdict.json is missing, or a file the workflow never writes sits in results/, verify fails naming it', async () => {
    const missing = await genuine('no-verdict');
    rmSync(join(missing.dir, RESULTS.verdict));
    const planted = await genuine('planted');
    writeFileSync(join(planted.dir, 'jwks.json'), '{"keys":[]}');

    const r = await verify('--keys', jwksFile, missing.dir, planted.dir);

    assert.equal(r.code, 1);
    assert.match(r.stdout, / {2}- verdict\.json is missing/);
    assert.match(r.stdout, / {2}- jwks\.json is not part of a verdict \(unexpected file\)/);
    assert.match(r.stdout, /0 verified, 2 failed/);
  });
});

void describe('arbiter verify: hostile folders', () => {
  void it('when evidence/ holds a FIFO, a link loop, /dev/null\'s device node, a 2 GiB sparse file or a link to an identical copy, each folder fails naming the path and the run goes on', async () => {
    const fifo = await genuine('fifo');
    execFileSync('mkfifo', [join(fifo.dir, 'evidence', 'pipe')]);
    const loop = await genuine('loop');
    symlinkSync('b', join(loop.dir, 'evidence', 'a'));
    symlinkSync('a', join(loop.dir, 'evidence', 'b'));
    const device = await genuine('device');
    execFileSync('mknod', [join(device.dir, 'evidence', 'null'), 'c', '1', '3']);
    const sparse = await genuine('sparse');
    // The listed container.log swapped for a 2 GiB hole, and an unlisted one beside it.
    const log = join(sparse.dir, 'evidence', 'container.log');
    rmSync(log);
    writeFileSync(log, '');
    truncateSync(log, 2 * 1024 ** 3);
    writeFileSync(join(sparse.dir, 'evidence', 'huge.bin'), '');
    truncateSync(join(sparse.dir, 'evidence', 'huge.bin'), 2 * 1024 ** 3);
    const linked = await genuine('linked');
    const answer = join(linked.dir, 'evidence', 'files', 'work', 'answer.txt');
    cpSync(answer, join(linked.dir, '..', 'answer-copy.txt'));
    rmSync(answer);
    symlinkSync(join(linked.dir, '..', 'answer-copy.txt'), answer);
    const good = await genuine('good');

    const r = await runArbiter(['verify', '--keys', jwksFile, fifo.dir, loop.dir, device.dir, sparse.dir, linked.dir, good.dir], { killAfterMs: 30_000 });

    assert.equal(r.signal, null, 'it ends on its own');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.ok(r.ms < 20_000, `took ${r.ms} ms`);
    assert.match(r.stdout, / {2}- evidence\/pipe is a FIFO, not a regular file/);
    assert.match(r.stdout, / {2}- evidence\/a is a symbolic link, not a regular file/);
    assert.match(r.stdout, / {2}- evidence\/b is a symbolic link, not a regular file/);
    assert.match(r.stdout, / {2}- evidence\/null is a character device, not a regular file/);
    assert.match(r.stdout, / {2}- evidence\/container\.log is 2147483648 bytes, the signed manifest says 24/);
    assert.match(r.stdout, / {2}- evidence file huge\.bin is not in the manifest/);
    assert.match(r.stdout, / {2}- evidence\/files\/work\/answer\.txt is a symbolic link, not a regular file/);
    assert.ok(r.stdout.includes(`verified: scn-0001 scored score 1/3 signed by ${signer.keyId}`), r.stdout);
    assert.match(r.stdout, /\n1 verified, 5 failed, in /);
    assert.equal(r.stderr, '');
  });

  void it('when score.json is a symbolic link to an identical copy, or the results folder itself is a FIFO, verify fails naming it', async () => {
    const linked = await genuine('score-link');
    const score = join(linked.dir, RESULTS.score);
    cpSync(score, `${linked.dir}.score-copy`);
    rmSync(score);
    symlinkSync(`${linked.dir}.score-copy`, score);
    const pipeDir = join(fresh('pipe-results'), 'results');
    execFileSync('mkfifo', [pipeDir]);

    const r = await runArbiter(['verify', '--keys', jwksFile, linked.dir, pipeDir], { killAfterMs: 30_000 });

    assert.equal(r.code, 1);
    assert.match(r.stdout, / {2}- score\.json is a symbolic link \(never followed\)/);
    assert.match(r.stdout, new RegExp(`  - ${pipeDir} is a FIFO, not a results folder`));
  });

  for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
    void it(`when ${signal} arrives while it works through many folders, it stops promptly with exit ${code} and says it was interrupted`, async () => {
      // 48 MiB of signed evidence per folder: each one takes a noticeable while to hash.
      const big = await writeSignedResults(join(fresh('big'), 'storage'), signer, { evidence: { 'big.bin': Buffer.alloc(48 * 1024 * 1024, 7) } });
      let signalledAt = 0;
      const r = await runArbiter(['verify', '--keys', jwksFile, ...Array.from({ length: 40 }, () => big.dir)], {
        killAfterMs: 60_000,
        onStdout: (all, child) => {
          if (!signalledAt && all.includes('verified: ')) {
            signalledAt = performance.now();
            child.kill(signal);
          }
        },
      });

      assert.ok(signalledAt > 0, 'the signal was sent once a folder had verified');
      assert.equal(r.code, code, r.stdout + r.stderr);
      assert.match(r.stderr, new RegExp(`^arbiter: verify interrupted by ${signal} after \\d+ of 40 folder\\(s\\)`));
      assert.ok(r.stdout.split('\n').filter((l) => l.startsWith('verified: ')).length < 40);
      assert.ok(r.endedAt - signalledAt < 5000, `ended ${Math.round(r.endedAt - signalledAt)} ms after the signal`);
    });
  }
});

void describe('arbiter verify: audit entries after the signed head', () => {
  async function withOverride(): Promise<SignedResults> {
    const fx = await genuine('after-head');
    const file = join(fx.dir, RESULTS.audit);
    const chain = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEntry);
    appendFileSync(file, serializeChain([appendEvent(chain, { time: '2024-01-02T00:00:00.000Z', actor: 'mallory', event: 'score.override', data: { score: 3 } })]));
    return fx;
  }

  void it('when a correctly chained score.override follows the signed head, verify passes but warns that no signature covers it', async () => {
    const fx = await withOverride();

    const r = await verify('--keys', jwksFile, fx.dir);
    const lib = await verifyResults(fx.dir, fx.jwks);

    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /\n {2}warning: audit\.jsonl has 1 entry after the signed head, NOT covered by the signature: #4 score\.override by mallory\n/);
    assert.equal(lib.ok && lib.unsignedAuditEntries.length, 1);
  });

  void it('when the same folder is checked with --strict, verify exits 1 naming the unsigned entry', async () => {
    const fx = await withOverride();

    const r = await verify('--strict', '--keys', jwksFile, fx.dir);
    const untouched = await verify('--strict', '--keys', jwksFile, (await genuine('strict-clean')).dir);

    assert.equal(r.code, 1);
    assert.match(r.stdout, /verification FAILED for .*:\n {2}- audit\.jsonl has 1 entry after the signed head, NOT covered by the signature: #4 score\.override by mallory \(--strict\)/);
    assert.equal(untouched.code, 0, untouched.stdout);
  });
});
