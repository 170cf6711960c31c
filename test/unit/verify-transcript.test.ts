// `arbiter verify` on results folders whose evidence holds a transcript of subject access
// (CONTRACT "Subject access"): the folder verifies only when the transcript's chain and every
// recorded byte hold, and a failure names the transcript entry as well as the changed file.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson } from '../../lib/canonical-json.ts';
import { generateKey, loadSigner, type Signer } from '../../infra/keys.ts';
import { verifyResults, type ResultsCheck } from '../../infra/results.ts';
import { runArbiter, writeSignedResults, type Interaction, type SignedResults } from '../support/signed-results.ts';
import { tempDir } from './helpers.ts';

const root = tempDir();
after(() => rmSync(root, { recursive: true, force: true }));
let count = 0;
let signer: Signer;
let jwksFile: string;

before(async () => {
  const keysDir = join(root, 'deployment-keys');
  await generateKey(keysDir);
  signer = await loadSigner(keysDir);
  jwksFile = join(root, 'published-jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [signer.publicJwk] }));
});

const INTERACTIONS: Interaction[] = [
  { event: 'exec', cmd: ['ls'], stdout: 'answer.txt\n' },
  { event: 'file.write', path: 'answer.txt', content: 'hello\n' },
  { event: 'exec', cmd: ['cat', 'answer.txt'], stdout: 'hello\n' },
  { event: 'terminal', cast: '{"version":2,"width":80,"height":24}\n[0.1,"o","$ "]\n[0.4,"i","exit\\r"]\n' },
];
const EVIDENCE = { 'container.log': 'hello from the scenario\n', 'exit.json': canonicalJson({ exitCode: 0, running: false }) };

const signed = (opts: { transcript?: Interaction[]; evidence?: Record<string, string> } = {}): Promise<SignedResults> =>
  writeSignedResults(join(root, `s${count++}`, 'storage'), signer, { evidence: opts.evidence ?? EVIDENCE, transcript: opts.transcript ?? INTERACTIONS });
const problemsOf = (r: ResultsCheck) => (r.ok ? [] : r.problems);
const transcriptOf = (dir: string) => join(dir, 'evidence', 'transcript.jsonl');

void describe('arbiter verify: the transcript of subject access', () => {
  void it('when the folder is as signed, it verifies and reports the transcript, in plain and JSON output', async () => {
    const { dir, jwks } = await signed();
    const r = await verifyResults(dir, jwks);
    assert.ok(r.ok, JSON.stringify(problemsOf(r)));
    assert.deepEqual(r.transcript, { entries: 4 });

    const plain = await runArbiter(['verify', '--keys', jwksFile, dir]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /\n {2}transcript: 4 entries, chain and recordings hold\n/);
    const json = await runArbiter(['--json', 'verify', '--keys', jwksFile, dir]);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual((JSON.parse(json.stdout) as { transcript: unknown }).transcript, { entries: 4 });
  });

  void it('when there is no transcript, the report has none', async () => {
    const { dir, jwks } = await writeSignedResults(join(root, `s${count++}`, 'storage'), signer);
    const r = await verifyResults(dir, jwks);
    assert.ok(r.ok, JSON.stringify(problemsOf(r)));
    assert.equal(r.transcript, undefined);
  });

  void it('when one byte of a recorded terminal session is flipped, it fails naming both the file and the transcript entry', async () => {
    const { dir, jwks } = await signed();
    const cast = join(dir, 'evidence', 'access', '000003-terminal.cast');
    const bytes = readFileSync(cast);
    bytes[30] = bytes[30]! ^ 0x04;
    writeFileSync(cast, bytes);

    assert.deepEqual(problemsOf(await verifyResults(dir, jwks)), [
      'evidence file access/000003-terminal.cast does not match its digest',
      'evidence/transcript.jsonl entry 3 (terminal): recording access/000003-terminal.cast does not match its digest (changed after it was recorded)',
    ]);
    const cli = await runArbiter(['verify', '--keys', jwksFile, dir]);
    assert.equal(cli.code, 1);
    assert.match(cli.stdout, /entry 3 \(terminal\): recording access\/000003-terminal\.cast does not match its digest/);
  });

  void it('when an exec line is deleted, it fails naming the entry where the chain breaks and the recording nobody owns', async () => {
    const { dir, jwks } = await signed();
    const lines = readFileSync(transcriptOf(dir), 'utf8').split('\n').filter(Boolean);
    writeFileSync(transcriptOf(dir), [...lines.slice(0, 2), ...lines.slice(3)].map((l) => `${l}\n`).join(''));

    const problems = problemsOf(await verifyResults(dir, jwks));
    assert.match(problems[0] ?? '', /^evidence\/transcript\.jsonl is \d+ bytes, the signed manifest says \d+$/);
    assert.deepEqual(problems.slice(1), [
      'evidence/transcript.jsonl: chain broken: entry 2 has sequence 3 (deleted, inserted or reordered)',
      'evidence/access/000002-stdout is not referenced by any transcript.jsonl entry',
    ]);
  });

  void it('when the signed folder holds a file under access/ that no entry references, it is named', async () => {
    const { dir, jwks } = await signed({ evidence: { ...EVIDENCE, 'access/000009-stdout': 'planted\n' } });
    assert.deepEqual(problemsOf(await verifyResults(dir, jwks)), ['evidence/access/000009-stdout is not referenced by any transcript.jsonl entry']);
  });

  void it('when an entry references a recording that is not there, the entry is named', async () => {
    const { dir, jwks } = await signed();
    rmSync(join(dir, 'evidence', 'access', '000001-content'));
    assert.deepEqual(problemsOf(await verifyResults(dir, jwks)), [
      'evidence file access/000001-content is missing',
      'evidence/transcript.jsonl entry 1 (file.write): content recording access/000001-content: the file is missing',
    ]);
  });

  void it('when access/ holds recordings but the transcript is gone, both are named', async () => {
    const { dir, jwks } = await signed();
    rmSync(transcriptOf(dir));
    assert.deepEqual(problemsOf(await verifyResults(dir, jwks)), [
      'evidence file transcript.jsonl is missing',
      'evidence/access/ holds recordings but there is no evidence/transcript.jsonl to describe them',
    ]);
  });

  void it('when a signed transcript is not in canonical form (its entries re-serialized), it is named though the chain holds', async () => {
    // Signed as written: only the form is wrong, so nothing but the form check can catch it.
    const built = await signed();
    const lines = readFileSync(transcriptOf(built.dir), 'utf8').split('\n').filter(Boolean);
    const pretty = lines.map((l) => `${JSON.stringify(JSON.parse(l) as unknown, null, 0).replace(/^\{/, '{ ')}\n`).join('');
    const evidence: Record<string, string> = { ...EVIDENCE, 'transcript.jsonl': pretty };
    const access = join(built.dir, 'evidence', 'access');
    for (const name of ['000000-stdout', '000001-content', '000002-stdout', '000003-terminal.cast']) evidence[`access/${name}`] = readFileSync(join(access, name), 'utf8');
    const dir = join(root, `s${count++}`, 'storage');
    mkdirSync(dir, { recursive: true });
    const { dir: results, jwks } = await writeSignedResults(dir, signer, { evidence });
    assert.deepEqual(problemsOf(await verifyResults(results, jwks)), ['evidence/transcript.jsonl is not in canonical form (one canonical JSON entry per line): it was reformatted']);
  });
});
