// api/verifier/verify.ts, the verification the browser page runs, against the Node verifier
// (infra/verdict.ts): both accept what Arbiter signs, both refuse every tampered copy, and the
// browser one is just as strict about Ed25519 (RFC 8032, not ZIP-215).
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ed from '@noble/ed25519';
import { okpThumbprint, pae, verifyVerdict, PAYLOAD_TYPE, type VerifyReport } from '../../api/verifier/verify.ts';
import { generateKey, loadSigner, publicJwks, type Jwks, type Signer } from '../../infra/keys.ts';
import { buildStatement, signStatement, verifyEnvelope, type DsseEnvelope } from '../../infra/verdict.ts';
import { appendEvent, buildChain, serializeChain } from '../../lib/audit-chain.ts';
import { writeSignedResults, type Interaction } from '../support/signed-results.ts';

let signer: Signer;
let jwks: Jwks;
let envelope: DsseEnvelope;

before(async () => {
  const keys = mkdtempSync(join(tmpdir(), 'arbiter-bv-'));
  await generateKey(keys);
  signer = await loadSigner(keys);
  jwks = await publicJwks(keys);
  envelope = await signStatement(buildStatement({
    scenarioId: 'scn-0000aaaa-1111', subject: 'alice', tenant: 'acme', plan: 'free', track: 'intro',
    template: { id: 'hello', version: '1', digest: 'a'.repeat(64) }, policy: { sha256: 'b'.repeat(64), allow: true },
    outcome: 'success', status: 'scored', score: { score: 1, maxScore: 2, passed: false }, auditHead: 'c'.repeat(64),
    issuedAt: '2026-01-01T00:00:00.000Z', keyId: signer.keyId,
  }, { score: 'd'.repeat(64), manifest: 'e'.repeat(64) }), signer);
});

describe('browser verifier agrees with the Node verifier', () => {
  it('an envelope Arbiter signed is valid in both, every check passing', async () => {
    const report = verifyVerdict(JSON.stringify(envelope), JSON.stringify(jwks));
    assert.ok(report.valid, JSON.stringify(report.failed));
    assert.equal(report.keyId, signer.keyId);
    assert.equal(report.claims?.scenarioId, 'scn-0000aaaa-1111');
    assert.ok((await verifyEnvelope(envelope, jwks)).ok);
  });

  it('the browser key ids are the same RFC 7638 thumbprints the Node side computes', () => {
    for (const k of jwks.keys) assert.equal(okpThumbprint(k.crv, k.x), k.kid);
  });

  it('when any single payload byte is flipped, both refuse it at the signature', async () => {
    const payload = Buffer.from(envelope.payload, 'base64');
    for (let i = 0; i < payload.length; i += 3) {
      const bytes = Buffer.from(payload);
      bytes[i] = bytes[i]! ^ 0x20;
      const tampered = { ...envelope, payload: bytes.toString('base64') };
      const report = verifyVerdict(JSON.stringify(tampered), JSON.stringify(jwks));
      assert.equal(report.failed?.id, 'signature', `byte ${i}`);
      assert.equal((await verifyEnvelope(tampered, jwks)).ok, false, `byte ${i}`);
    }
  });

  it('when any signature bit is flipped, both refuse it', async () => {
    const sig = Buffer.from(envelope.signatures[0]!.sig, 'base64');
    for (let bit = 0; bit < sig.length * 8; bit += 5) {
      const bytes = Buffer.from(sig);
      bytes[bit >> 3] = bytes[bit >> 3]! ^ (1 << (bit & 7));
      const tampered = { ...envelope, signatures: [{ keyid: signer.keyId, sig: bytes.toString('base64') }] };
      assert.equal(verifyVerdict(JSON.stringify(tampered), JSON.stringify(jwks)).valid, false, `bit ${bit}`);
      assert.equal((await verifyEnvelope(tampered, jwks)).ok, false, `bit ${bit}`);
    }
  });
});

describe('browser verifier: strict RFC 8032', () => {
  it('a small-order key with a signature ZIP-215 would accept is refused', () => {
    // A = identity, R = identity, S = 0: the cofactored (ZIP-215) equation holds for any message.
    const identity = new Uint8Array(32);
    identity[0] = 1;
    const sig = new Uint8Array(64);
    sig[0] = 1;
    const payload = Buffer.from('{}');
    const message = pae(PAYLOAD_TYPE, payload);
    assert.equal(ed.verify(sig, message, identity, { zip215: true }), true, 'the vector is one ZIP-215 accepts');

    const x = Buffer.from(identity).toString('base64url');
    const keys = { keys: [{ kty: 'OKP', crv: 'Ed25519', x, kid: okpThumbprint('Ed25519', x) }] };
    const forged = { payloadType: PAYLOAD_TYPE, payload: payload.toString('base64'), signatures: [{ keyid: keys.keys[0]!.kid, sig: Buffer.from(sig).toString('base64') }] };
    assert.equal(verifyVerdict(JSON.stringify(forged), JSON.stringify(keys)).failed?.id, 'signature');
  });
});

describe('browser verifier: keys, verdict.json and the audit log, the same rules as `arbiter verify`', () => {
  const payload = () => new Uint8Array(Buffer.from(envelope.payload, 'base64'));

  it('the report names where the keys came from, and a JWKS dropped among the artifacts is never used as keys', async () => {
    const forgerDir = mkdtempSync(join(tmpdir(), 'arbiter-bv-forger-'));
    await generateKey(forgerDir);
    const forged = await publicJwks(forgerDir);

    const report = verifyVerdict(JSON.stringify(envelope), JSON.stringify(jwks), { 'jwks.json': new TextEncoder().encode(JSON.stringify(forged)) }, { keySource: 'fetched from http://127.0.0.1:8080/.well-known/arbiter/keys' });

    assert.equal(report.keySource, 'fetched from http://127.0.0.1:8080/.well-known/arbiter/keys');
    assert.match(report.checks.find((c) => c.id === 'keys')!.detail, /fetched from http:\/\/127\.0\.0\.1:8080/);
    assert.equal(report.valid, false);
    assert.equal(report.failed?.id, 'artifact:jwks.json');
    assert.match(report.failed.detail, /keys are never taken from the artifacts/);
  });

  it('when verdict.json is the signed payload it passes; edited (tenant, score) it fails naming verdict.json', () => {
    const edited = JSON.parse(Buffer.from(payload()).toString('utf8')) as { predicate: { tenant: string; score: { score: number } } };
    edited.predicate.tenant = 'evil-corp';
    edited.predicate.score.score = 2;

    const good = verifyVerdict(JSON.stringify(envelope), JSON.stringify(jwks), { 'verdict.json': payload() });
    const bad = verifyVerdict(JSON.stringify(envelope), JSON.stringify(jwks), { 'verdict.json': new TextEncoder().encode(JSON.stringify(edited)) });

    assert.ok(good.valid, JSON.stringify(good.failed));
    assert.equal(bad.valid, false);
    assert.equal(bad.failed?.id, 'artifact:verdict.json');
  });

  it('when audit.jsonl ends at the signed head it passes; an appended, correctly chained entry is a warning that names it; a broken chain fails', async () => {
    const chain = buildChain([{ time: '2026-01-01T00:00:00.000Z', actor: 'api', event: 'requested' }, { time: '2026-01-01T00:01:00.000Z', actor: 'workflow', event: 'scored' }]);
    const keysDir = mkdtempSync(join(tmpdir(), 'arbiter-bv-audit-'));
    await generateKey(keysDir);
    const s = await loadSigner(keysDir);
    const env = await signStatement(buildStatement({
      scenarioId: 'scn-audit', subject: 'alice', tenant: 'acme', plan: 'free', track: 'intro',
      template: { id: 'hello', version: '1', digest: 'a'.repeat(64) }, policy: { sha256: 'b'.repeat(64), allow: true },
      outcome: 'success', status: 'scored', score: { score: 1, maxScore: 2, passed: false }, auditHead: chain.at(-1)!.hash,
      issuedAt: '2026-01-01T00:02:00.000Z', keyId: s.keyId,
    }, { score: 'd'.repeat(64), manifest: 'e'.repeat(64) }), s);
    const keys = JSON.stringify(await publicJwks(keysDir));
    const override = appendEvent(chain, { time: '2026-01-02T00:00:00.000Z', actor: 'mallory', event: 'score.override' });
    const enc = (text: string) => new TextEncoder().encode(text);

    const clean = verifyVerdict(JSON.stringify(env), keys, { 'audit.jsonl': enc(serializeChain(chain)) });
    const appended = verifyVerdict(JSON.stringify(env), keys, { 'audit.jsonl': enc(serializeChain([...chain, override])) });
    const truncated = verifyVerdict(JSON.stringify(env), keys, { 'audit.jsonl': enc(serializeChain(chain.slice(0, 1))) });

    assert.ok(clean.valid, JSON.stringify(clean.failed));
    assert.equal(clean.checks.find((c) => c.id === 'artifact:audit.jsonl')?.state, 'pass');
    const warning = appended.checks.find((c) => c.id === 'artifact:audit.jsonl')!;
    assert.equal(warning.state, 'warn');
    assert.match(warning.detail, /1 after the signed head are NOT covered by the signature: #2 score\.override by mallory/);
    assert.equal(truncated.valid, false);
    assert.match(truncated.failed?.detail ?? '', /signed head .* is not in the chain/);
  });
});

describe('browser verifier: the transcript of subject access, the same rules as `arbiter verify`', () => {
  const INTERACTIONS: Interaction[] = [
    { event: 'exec', cmd: ['ls'], stdout: 'answer.txt\n' },
    { event: 'file.write', path: 'answer.txt', content: 'hello\n' },
    { event: 'exec', cmd: ['cat', 'answer.txt'], stdout: 'hello\n', exitCode: 1 },
    { event: 'terminal', cast: '{"version":2,"width":80,"height":24}\n[0.1,"o","$ "]\n[0.4,"i","exit\\r"]\n' },
  ];
  let folder: Record<string, Uint8Array>;
  let envelopeText: string;

  /** Every file of a results folder by its path under it, as the page's folder picker gives them. */
  function readFolder(dir: string, prefix = ''): Record<string, Uint8Array> {
    const out: Record<string, Uint8Array> = {};
    for (const d of readdirSync(join(dir, prefix), { withFileTypes: true })) {
      const rel = prefix ? `${prefix}/${d.name}` : d.name;
      if (d.isDirectory()) Object.assign(out, readFolder(dir, rel));
      else out[rel] = new Uint8Array(readFileSync(join(dir, rel)));
    }
    return out;
  }
  const run = (artifacts: Record<string, Uint8Array>) => verifyVerdict(envelopeText, JSON.stringify({ keys: [signer.publicJwk] }), artifacts);
  const checkOf = (r: VerifyReport, id: string) => r.checks.find((c) => c.id === id);

  before(async () => {
    const { dir } = await writeSignedResults(mkdtempSync(join(tmpdir(), 'arbiter-bv-transcript-')), signer, { transcript: INTERACTIONS });
    folder = readFolder(dir);
    envelopeText = Buffer.from(folder['verdict.dsse.json']!).toString('utf8');
  });

  it('when the whole results folder is given, every file and the transcript hold, and the entries are listed', () => {
    const r = run(folder);
    assert.ok(r.valid, JSON.stringify(r.failed));
    assert.equal(checkOf(r, 'transcript')?.state, 'pass');
    assert.match(checkOf(r, 'transcript')!.detail, /^4 entries, chain and 4 recording\(s\) hold$/);
    for (const f of ['transcript.jsonl', 'access/000003-terminal.cast', 'container.log']) assert.equal(checkOf(r, `artifact:evidence/${f}`)?.state, 'pass', f);
    assert.deepEqual(r.transcript?.entries.map((e) => [e.seq, e.event, e.actor, e.what, e.exitCode]), [
      ['0', 'exec', 'subject:user-1', 'ls', '0'],
      ['1', 'file.write', 'subject:user-1', 'answer.txt', 'ok'],
      ['2', 'exec', 'subject:user-1', 'cat answer.txt', '1'],
      ['3', 'terminal', 'subject:user-1', 'terminal session (exited)', '0'],
    ]);
    assert.deepEqual(r.transcript?.failing, []);
  });

  it('when the files are picked one by one (bare names), the recordings are still found', () => {
    const bare = Object.fromEntries(Object.entries(folder).filter(([p]) => p.startsWith('evidence/')).map(([p, b]) => [p.split('/').at(-1)!, b]));
    const r = run(bare);
    assert.ok(r.valid, JSON.stringify(r.failed));
    assert.equal(checkOf(r, 'artifact:evidence/access/000003-terminal.cast')?.state, 'pass');
  });

  it('when one byte of the recorded terminal session is flipped, the file and the transcript entry fail, and that row is marked', () => {
    const cast = Uint8Array.from(folder['evidence/access/000003-terminal.cast']!);
    cast[30] = cast[30]! ^ 0x04;
    const r = run({ ...folder, 'evidence/access/000003-terminal.cast': cast });
    assert.equal(r.valid, false);
    assert.equal(r.failed?.id, 'artifact:evidence/access/000003-terminal.cast');
    assert.equal(checkOf(r, 'transcript')?.state, 'fail');
    assert.equal(checkOf(r, 'transcript')?.detail, 'evidence/transcript.jsonl entry 3 (terminal): recording access/000003-terminal.cast does not match its digest (changed after it was recorded)');
    assert.deepEqual(r.transcript?.failing, [3]);
  });

  it('when an exec line is deleted, the chain fails at the entry that took its place and its recording is nobody\'s', () => {
    const text = Buffer.from(folder['evidence/transcript.jsonl']!).toString('utf8');
    const lines = text.split('\n').filter(Boolean);
    const r = run({ ...folder, 'evidence/transcript.jsonl': new TextEncoder().encode([...lines.slice(0, 2), ...lines.slice(3)].map((l) => `${l}\n`).join('')) });
    assert.equal(r.valid, false);
    assert.equal(checkOf(r, 'artifact:evidence/transcript.jsonl')?.state, 'fail');
    assert.equal(checkOf(r, 'transcript')?.detail, 'evidence/transcript.jsonl: chain broken: entry 2 has sequence 3 (deleted, inserted or reordered); evidence/access/000002-stdout is not referenced by any transcript.jsonl entry');
    assert.deepEqual(r.transcript?.failing, [2]);
  });

  it('when the transcript comes without the manifest that binds it, a holding chain is only a warning', () => {
    const r = run({ 'transcript.jsonl': folder['evidence/transcript.jsonl']!, ...Object.fromEntries(Object.entries(folder).filter(([p]) => p.startsWith('evidence/access/'))) });
    const c = checkOf(r, 'transcript')!;
    assert.equal(c.state, 'warn');
    assert.match(c.detail, /NOT bound to the signature: give evidence\/manifest\.json/);
    // The recordings themselves are evidence files with nothing to check them against.
    assert.equal(r.valid, false);
  });

  it('when the folder\'s verdict.dsse.json is not the envelope being verified, it fails', () => {
    const r = verifyVerdict(JSON.stringify(envelope), JSON.stringify(jwks), { 'verdict.dsse.json': folder['verdict.dsse.json']! });
    assert.equal(r.failed?.id, 'artifact:verdict.dsse.json');
  });
});
