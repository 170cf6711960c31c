// Signed verdicts end to end: Ed25519 keys (infra/keys.ts), DSSE envelopes (infra/verdict.ts), the
// hash-chained audit log (lib/audit-chain.ts), the evidence manifest (infra/evidence-manifest.ts)
// and the offline check of a results folder (infra/results.ts). Signatures are cross-checked with
// node:crypto (OpenSSL), an implementation independent of @noble/ed25519.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as ed from '@noble/ed25519';
import { calculateJwkThumbprint } from 'jose';
import {
  appendEvent,
  buildChain,
  GENESIS_HASH,
  serializeChain,
  verifyChainText,
  type AuditEntry,
  type AuditEvent,
} from '../../lib/audit-chain.ts';
import { canonicalJson, sha256Hex } from '../../lib/canonical-json.ts';
import { buildManifest, checkManifest, MANIFEST_FILE, manifestBytes } from '../../infra/evidence-manifest.ts';
import { generateKey, loadSigner, publicJwkOf, publicJwks, publishJwks, verifyEd25519, type Jwks, type Signer } from '../../infra/keys.ts';
import { RESULTS, verifyResults } from '../../infra/results.ts';
import {
  buildStatement,
  pae,
  PAYLOAD_TYPE,
  PREDICATE_TYPE,
  signStatement,
  STATEMENT_TYPE,
  verifyEnvelope,
  type DsseEnvelope,
  type ScoreResult,
  type VerdictPredicate,
} from '../../infra/verdict.ts';
import { tempDir } from './helpers.ts';
import { predicate } from '../support/signed-results.ts';

const REPO_ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');

/** RFC 8032 section 7.1, TEST 1 to TEST 3. */
const RFC8032 = [
  {
    name: 'TEST 1 (empty message)',
    secretKey: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    name: 'TEST 2 (one byte)',
    secretKey: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    name: 'TEST 3 (two bytes)',
    secretKey: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    publicKey: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: 'af82',
    signature: '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
];

/** The order of the Ed25519 base point (RFC 8032 section 5.1, "L"). */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function leToBigint(bytes: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(bytes).reverse().toString('hex') || '0'}`);
}
function bigintToLe(n: bigint, length: number): Uint8Array {
  return new Uint8Array(Buffer.from(n.toString(16).padStart(length * 2, '0'), 'hex').reverse());
}

function nodePublicKey(x: string): crypto.KeyObject {
  return crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
}
function nodePrivateKey(secretHex: string, publicHex: string): crypto.KeyObject {
  return crypto.createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: b64u(hex(secretHex)), x: b64u(hex(publicHex)) },
    format: 'jwk',
  });
}

const root = tempDir();
after(() => rmSync(root, { recursive: true, force: true }));
let dirCount = 0;
function freshDir(label: string): string {
  const dir = join(root, `${label}-${dirCount++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

void describe('Ed25519: RFC 8032 section 7.1 test vectors', () => {
  for (const v of RFC8032) {
    void it(`when checked against node:crypto, ${v.name} is a correct vector (public key and signature)`, () => {
      const key = nodePrivateKey(v.secretKey, v.publicKey);

      const signature = crypto.sign(null, hex(v.message), key);
      const publicX = crypto.createPublicKey(key).export({ format: 'jwk' }).x!;

      assert.equal(signature.toString('hex'), v.signature);
      assert.equal(Buffer.from(publicX, 'base64url').toString('hex'), v.publicKey);
    });

    void it(`when given ${v.name}, verifyEd25519 accepts the vector signature`, async () => {
      const ok = await verifyEd25519(hex(v.signature), hex(v.message), { x: b64u(hex(v.publicKey)) });

      assert.equal(ok, true);
    });

    void it(`when given ${v.name} with one message bit flipped (or a byte appended), verifyEd25519 rejects it`, async () => {
      const message = v.message ? hex(v.message).map((b, i) => (i === 0 ? b ^ 1 : b)) : new Uint8Array([0]);

      const ok = await verifyEd25519(hex(v.signature), message, { x: b64u(hex(v.publicKey)) });

      assert.equal(ok, false);
    });

    void it(`when signing ${v.name} with @noble/ed25519, it derives the vector public key and produces the vector signature`, async () => {
      assert.equal(Buffer.from(await ed.getPublicKeyAsync(hex(v.secretKey))).toString('hex'), v.publicKey);
      assert.equal(Buffer.from(await ed.signAsync(hex(v.message), hex(v.secretKey))).toString('hex'), v.signature);
    });
  }

  void it('when the key id of the RFC 8032 TEST 1 key is computed, it is the RFC 8037 appendix A.3 thumbprint', async () => {
    const jwk = await publicJwkOf(hex(RFC8032[0]!.publicKey));

    assert.equal(jwk.x, '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo');
    assert.equal(jwk.kid, 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k');
  });
});

void describe('Ed25519: strict RFC 8032 verification (zip215: false)', () => {
  const v = RFC8032[1]!;

  void it('when S is replaced by S + L (same value mod L, non-canonical encoding), verifyEd25519 rejects the signature', async () => {
    const sig = hex(v.signature);
    const s = leToBigint(sig.slice(32));
    assert.ok(s < L, 'the vector S is canonical');
    const malleated = new Uint8Array(64);
    malleated.set(sig.slice(0, 32), 0);
    malleated.set(bigintToLe(s + L, 32), 32);

    const original = await verifyEd25519(sig, hex(v.message), { x: b64u(hex(v.publicKey)) });
    const forged = await verifyEd25519(malleated, hex(v.message), { x: b64u(hex(v.publicKey)) });

    assert.equal(original, true);
    assert.equal(forged, false);
    assert.equal(crypto.verify(null, hex(v.message), nodePublicKey(b64u(hex(v.publicKey))), malleated), false);
  });

  void it('when the public key is the small-order identity point, the trivial signature (R = identity, S = 0) is refused though cofactored rules accept it', async () => {
    const identity = new Uint8Array(32);
    identity[0] = 1;
    const signature = new Uint8Array(64);
    signature[0] = 1;
    const message = Buffer.from('any message at all');

    const lenient = await ed.verifyAsync(signature, message, identity, { zip215: true });
    const strict = await verifyEd25519(signature, message, { x: b64u(identity) });

    assert.equal(lenient, true);
    assert.equal(strict, false);
  });

  void it('when the signature or key has the wrong length, verifyEd25519 returns false instead of throwing', async () => {
    assert.equal(await verifyEd25519(hex(v.signature).slice(0, 63), hex(v.message), { x: b64u(hex(v.publicKey)) }), false);
    assert.equal(await verifyEd25519(hex(v.signature), hex(v.message), { x: b64u(hex(v.publicKey).slice(1)) }), false);
  });
});

void describe('keys: generation, key ids and rotation', () => {
  let keysDir: string;
  let first: Awaited<ReturnType<typeof generateKey>>;
  let firstSigner: Signer;
  let second: Awaited<ReturnType<typeof generateKey>>;
  let secondSigner: Signer;

  before(async () => {
    keysDir = join(freshDir('keys'), 'keys');
    first = await generateKey(keysDir);
    firstSigner = await loadSigner(keysDir);
    second = await generateKey(keysDir);
    secondSigner = await loadSigner(keysDir);
  });

  void it('when a key is generated, its kid is the RFC 7638 thumbprint computed by jose and by hand', async () => {
    const byJose = await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: first.x }, 'sha256');
    const byHand = crypto.createHash('sha256').update(`{"crv":"Ed25519","kty":"OKP","x":"${first.x}"}`).digest('base64url');

    assert.equal(first.kid, byJose);
    assert.equal(first.kid, byHand);
    assert.deepEqual({ kty: first.kty, crv: first.crv, alg: first.alg, use: first.use }, { kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
  });

  void it('when two keys are generated, the JWKS lists both and the signer uses the second', async () => {
    const jwks = await publicJwks(keysDir);

    assert.deepEqual(jwks.keys.map((k) => k.kid).sort(), [first.kid, second.kid].sort());
    assert.notEqual(first.kid, second.kid);
    assert.equal(firstSigner.keyId, first.kid);
    assert.equal(secondSigner.keyId, second.kid);
    assert.deepEqual(secondSigner.publicJwk, second);
  });

  void it('when an envelope was signed by the retired first key, it still verifies against the JWKS after rotation', async () => {
    const envelope = await signStatement(buildStatement(predicate({ keyId: first.kid }), { score: 'a'.repeat(64), manifest: 'b'.repeat(64) }), firstSigner);

    const check = await verifyEnvelope(envelope, await publicJwks(keysDir));

    assert.equal(check.ok, true);
    assert.equal(check.ok && check.keyId, first.kid);
  });

  void it('when the JWKS is published under storage/, it holds only public members', async () => {
    const storage = freshDir('storage');

    await publishJwks(keysDir, storage);
    const text = readFileSync(join(storage, 'keys', 'jwks.json'), 'utf8');
    const published = JSON.parse(text) as Jwks;

    assert.equal(published.keys.length, 2);
    for (const k of published.keys) assert.deepEqual(Object.keys(k).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
    assert.ok(!text.includes('"d"'));
  });

  void it('when a private key is stored, its file is readable by the owner only', () => {
    const mode = statSync(join(keysDir, `${second.kid}.key.json`)).mode & 0o777;

    assert.equal(mode, 0o600);
  });

  void it('when the keys directory has no current key, loadSigner throws', async () => {
    await assert.rejects(loadSigner(join(freshDir('empty'), 'keys')));
  });
});

void describe('DSSE envelopes: cross-implementation', () => {
  let keysDir: string;
  let signer: Signer;
  let jwks: Jwks;

  before(async () => {
    keysDir = join(freshDir('cross'), 'keys');
    await generateKey(keysDir);
    signer = await loadSigner(keysDir);
    jwks = await publicJwks(keysDir);
  });

  void it('when pae() encodes the DSSE spec example, it gives "DSSEv1 29 http://example.com/HelloWorld 11 hello world"', () => {
    const out = pae('http://example.com/HelloWorld', Buffer.from('hello world'));

    assert.equal(Buffer.from(out).toString('utf8'), 'DSSEv1 29 http://example.com/HelloWorld 11 hello world');
  });

  void it('when the payload or payload type has multi-byte characters, pae() counts bytes, not characters', () => {
    const payload = Buffer.from('é', 'utf8');

    assert.equal(Buffer.from(pae('t', payload)).toString('utf8'), 'DSSEv1 1 t 2 é');
    assert.equal(Buffer.from(pae('tö', Buffer.from('x'))).toString('utf8'), 'DSSEv1 3 tö 1 x');
  });

  void it('when a Signer signs a statement, node:crypto verifies the signature over the PAE of the payload', async () => {
    const envelope = await signStatement(buildStatement(predicate({ keyId: signer.keyId }), { score: 'a'.repeat(64), manifest: 'b'.repeat(64) }), signer);
    const payload = Buffer.from(envelope.payload, 'base64');

    const ok = crypto.verify(null, pae(envelope.payloadType, payload), nodePublicKey(signer.publicJwk.x), Buffer.from(envelope.signatures[0]!.sig, 'base64'));

    assert.equal(ok, true);
    assert.equal(envelope.payloadType, PAYLOAD_TYPE);
    assert.equal(envelope.signatures[0]!.keyid, signer.keyId);
  });

  void it('when a statement is signed, the payload is the canonical JSON of the statement with the in-toto types', async () => {
    const statement = buildStatement(predicate(), { score: 'a'.repeat(64), manifest: 'b'.repeat(64) });

    const envelope = await signStatement(statement, signer);
    const text = Buffer.from(envelope.payload, 'base64').toString('utf8');

    assert.equal(text, canonicalJson(JSON.parse(text)));
    assert.equal(text, canonicalJson(statement));
    assert.equal(statement._type, STATEMENT_TYPE);
    assert.equal(statement.predicateType, PREDICATE_TYPE);
    assert.deepEqual(statement.subject.map((s) => s.name), ['score.json', 'evidence/manifest.json']);
  });

  void it('when node:crypto signs the PAE of a statement with a key in the JWKS, verifyEd25519 and verifyEnvelope accept it', async () => {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
    const x = publicKey.export({ format: 'jwk' }).x!;
    const jwk = await publicJwkOf(new Uint8Array(Buffer.from(x, 'base64url')));
    const payload = Buffer.from(canonicalJson(buildStatement(predicate({ keyId: jwk.kid }), { score: 'a'.repeat(64), manifest: 'b'.repeat(64) })));
    const message = pae(PAYLOAD_TYPE, payload);
    const sig = crypto.sign(null, message, privateKey);
    const envelope: DsseEnvelope = { payloadType: PAYLOAD_TYPE, payload: payload.toString('base64'), signatures: [{ keyid: jwk.kid, sig: sig.toString('base64') }] };

    assert.equal(await verifyEd25519(sig, message, { x }), true);
    const check = await verifyEnvelope(envelope, { keys: [jwk] });
    assert.equal(check.ok, true);
    assert.equal(check.ok && check.statement.predicate.keyId, jwk.kid);
  });

  void it('when node:crypto signs the raw payload instead of its PAE, verifyEnvelope rejects it', async () => {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
    const jwk = await publicJwkOf(new Uint8Array(Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url')));
    const payload = Buffer.from(canonicalJson(buildStatement(predicate(), { score: 'a'.repeat(64), manifest: 'b'.repeat(64) })));
    const sig = crypto.sign(null, payload, privateKey);

    const check = await verifyEnvelope({ payloadType: PAYLOAD_TYPE, payload: payload.toString('base64'), signatures: [{ keyid: jwk.kid, sig: sig.toString('base64') }] }, { keys: [jwk] });

    assert.equal(check.ok, false);
  });

  void it('when the envelope\'s payload type is changed, verification fails even though the payload is intact', async () => {
    const envelope = await signStatement(buildStatement(predicate(), { score: 'a'.repeat(64), manifest: 'b'.repeat(64) }), signer);

    const check = await verifyEnvelope({ ...envelope, payloadType: 'application/json' }, jwks);

    assert.equal(check.ok, false);
  });

  void it('when the signed payload is changed (a failing score made passing), verification fails naming the signer', async () => {
    const envelope = await signStatement(buildStatement(predicate({ score: { score: 0, maxScore: 1, passed: false } }), { score: 'a'.repeat(64), manifest: 'b'.repeat(64) }), signer);
    const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as { predicate: VerdictPredicate };
    statement.predicate.score = { score: 1, maxScore: 1, passed: true };

    const check = await verifyEnvelope({ ...envelope, payload: Buffer.from(canonicalJson(statement)).toString('base64') }, jwks);

    assert.equal(check.ok, false);
    assert.match(!check.ok ? check.reason : '', new RegExp(signer.keyId));
  });

  void it('when a validly signed payload is not an Arbiter statement, verifyEnvelope rejects it', async () => {
    const payload = Buffer.from(canonicalJson({ _type: STATEMENT_TYPE, predicateType: 'https://example.com/other', subject: [] }));
    const sig = await signer.sign(pae(PAYLOAD_TYPE, payload));

    const check = await verifyEnvelope({ payloadType: PAYLOAD_TYPE, payload: payload.toString('base64'), signatures: [{ keyid: signer.keyId, sig: Buffer.from(sig).toString('base64') }] }, jwks);

    assert.equal(check.ok, false);
  });

  void it('when the envelope has no signatures, verifyEnvelope rejects it', async () => {
    const envelope = await signStatement(buildStatement(predicate(), { score: 'a'.repeat(64), manifest: 'b'.repeat(64) }), signer);

    const check = await verifyEnvelope({ ...envelope, signatures: [] }, jwks);

    assert.equal(check.ok, false);
  });
});

void describe('DSSE envelopes: malformed input from disk or the network', () => {
  let signer: Signer;
  let jwks: Jwks;
  let envelope: DsseEnvelope;

  before(async () => {
    const keysDir = join(freshDir('malformed'), 'keys');
    await generateKey(keysDir);
    signer = await loadSigner(keysDir);
    jwks = await publicJwks(keysDir);
    envelope = await signStatement(buildStatement(predicate({ keyId: signer.keyId }), { score: 'a'.repeat(64), manifest: 'b'.repeat(64) }), signer);
  });

  /** Asserts verifyEnvelope resolves (does not throw) to a failure with a reason; returns the reason. */
  async function refused(malformed: unknown): Promise<string> {
    const check = await verifyEnvelope(malformed as DsseEnvelope, jwks);
    assert.equal(check.ok, false, JSON.stringify(check));
    const reason = check.ok ? '' : check.reason;
    assert.equal(typeof reason, 'string');
    assert.ok(reason.length > 0, 'the failure should give a reason');
    return reason;
  }

  void it('when the envelope is null, verifyEnvelope returns a failure with a reason instead of throwing', async () => {
    await refused(null);
  });

  void it('when the envelope has no payload, verifyEnvelope returns a failure with a reason instead of throwing', async () => {
    const { payload: _payload, ...withoutPayload } = envelope;

    await refused(withoutPayload);
  });

  void it('when the only signature entry names a known key but has no sig, verifyEnvelope returns a failure with a reason instead of throwing', async () => {
    await refused({ ...envelope, signatures: [{ keyid: signer.keyId }] });
  });

  void it('when signatures is a single signature object rather than an array, verifyEnvelope returns a failure with a reason instead of throwing', async () => {
    await refused({ ...envelope, signatures: envelope.signatures[0] });
  });

  void it('when a signature entry without sig comes before a valid signature, the entry is skipped and the envelope verifies', async () => {
    const check = await verifyEnvelope({ ...envelope, signatures: [{ keyid: signer.keyId } as DsseEnvelope['signatures'][number], ...envelope.signatures] }, jwks);

    assert.equal(check.ok, true, JSON.stringify(check));
    assert.equal(check.ok && check.keyId, signer.keyId);
  });
});

void describe('audit chain', () => {
  const events: AuditEvent[] = [
    { time: '2024-01-01T00:00:00.000Z', actor: 'api', event: 'requested', data: { plan: 'free' } },
    { time: '2024-01-01T00:00:01.000Z', actor: 'workflow', event: 'policy-allowed' },
    { time: '2024-01-01T00:00:02.000Z', actor: 'workflow', event: 'container-started', data: { container: 'arbiter-scn-0001' } },
    { time: '2024-01-01T00:05:00.000Z', actor: 'subject', event: 'completed', data: { answer: 'hello' } },
    { time: '2024-01-01T00:05:10.000Z', actor: 'workflow', event: 'scored', data: { score: 1 } },
  ];
  const chain = buildChain(events);
  const head = chain.at(-1)!.hash;
  const lines = serializeChain(chain).split('\n').filter(Boolean);
  const text = (ls: string[]) => ls.map((l) => `${l}\n`).join('');
  const edit = (i: number, change: (e: AuditEntry) => void) => lines.map((l, j) => {
    if (j !== i) return l;
    const e = JSON.parse(l) as AuditEntry;
    change(e);
    return canonicalJson(e);
  });

  void it('when the chain is built, entries are numbered from 0, start from the genesis hash and link by hash', () => {
    assert.deepEqual(chain.map((e) => e.seq), [0, 1, 2, 3, 4]);
    assert.equal(chain[0]!.prev, GENESIS_HASH);
    for (let i = 1; i < chain.length; i++) assert.equal(chain[i]!.prev, chain[i - 1]!.hash);
    for (const e of chain) {
      const { hash, ...body } = e;
      assert.equal(hash, sha256Hex(canonicalJson(body)));
    }
  });

  void it('when an untouched log is verified, it is ok with the last hash as head and the entry count', () => {
    const check = verifyChainText(serializeChain(chain), head);

    assert.deepEqual(check, { ok: true, head, length: 5, afterHead: [] });
  });

  void it('when an entry\'s data field is edited, the chain breaks at that entry', () => {
    const check = verifyChainText(text(edit(3, (e) => { e.data = { answer: 'forged' }; })));

    assert.equal(check.ok, false);
    assert.equal(!check.ok && check.brokenAt, 3);
  });

  void it('when an entry\'s actor is edited and its hash recomputed, the chain breaks at the next entry', () => {
    const check = verifyChainText(text(edit(2, (e) => {
      e.actor = 'operator';
      const { hash: _hash, ...body } = e;
      e.hash = sha256Hex(canonicalJson(body));
    })));

    assert.equal(check.ok, false);
    assert.equal(!check.ok && check.brokenAt, 3);
  });

  void it('when an entry is deleted from the middle, the chain breaks where it was', () => {
    const check = verifyChainText(text(lines.filter((_, i) => i !== 2)), head);

    assert.equal(check.ok, false);
    assert.equal(!check.ok && check.brokenAt, 2);
  });

  void it('when the first entry is deleted, the chain breaks at entry 0', () => {
    const check = verifyChainText(text(lines.slice(1)), head);

    assert.equal(check.ok, false);
    assert.equal(!check.ok && check.brokenAt, 0);
  });

  void it('when a copy of an entry is inserted, the chain breaks at the inserted line', () => {
    const tampered = [...lines.slice(0, 2), lines[1]!, ...lines.slice(2)];

    const check = verifyChainText(text(tampered), head);

    assert.equal(check.ok, false);
    assert.equal(!check.ok && check.brokenAt, 2);
  });

  void it('when a correctly hashed entry is inserted after entry 1, the chain breaks at the displaced original entry', () => {
    const forged = appendEvent(chain.slice(0, 2), { time: '2024-01-01T00:00:01.500Z', actor: 'operator', event: 'override' });
    const tampered = [...lines.slice(0, 2), canonicalJson(forged), ...lines.slice(2)];

    const check = verifyChainText(text(tampered), head);

    assert.equal(check.ok, false);
    assert.equal(!check.ok && check.brokenAt, 3);
  });

  void it('when two entries are swapped, the chain breaks at the first of them', () => {
    const tampered = [lines[0]!, lines[2]!, lines[1]!, ...lines.slice(3)];

    const check = verifyChainText(text(tampered), head);

    assert.equal(check.ok, false);
    assert.equal(!check.ok && check.brokenAt, 1);
  });

  void it('when the log is truncated and checked against the recorded head, it fails at the end of what is left', () => {
    const check = verifyChainText(text(lines.slice(0, 3)), head);

    assert.equal(check.ok, false);
    assert.equal(!check.ok && check.brokenAt, 3);
  });

  void it('when the log is truncated and no head is given, the remaining prefix is a valid chain (why the head matters)', () => {
    const check = verifyChainText(text(lines.slice(0, 3)));

    assert.deepEqual(check, { ok: true, head: chain[2]!.hash, length: 3 });
  });

  void it('when entries are appended after the recorded head, the extended log is accepted, reports the new head and returns the entries no signature covers', () => {
    const extra = appendEvent(chain, { time: '2024-02-01T00:00:00.000Z', actor: 'retention', event: 'evidence-held' });

    const check = verifyChainText(serializeChain([...chain, extra]), head);

    assert.deepEqual(check, { ok: true, head: extra.hash, length: 6, afterHead: [extra] });
  });

  void it('when a line is not JSON, the chain breaks at that line', () => {
    const tampered = [...lines];
    tampered[1] = '{not json';

    const check = verifyChainText(text(tampered), head);

    assert.equal(check.ok, false);
    assert.equal(!check.ok && check.brokenAt, 1);
  });

  for (const line of ['null', '[]', '1']) {
    void it(`when a line is JSON but not an object (${line}), the chain breaks at that line instead of throwing`, () => {
      const tampered = [...lines];
      tampered[2] = line;

      const check = verifyChainText(text(tampered), head);

      assert.equal(check.ok, false);
      assert.equal(!check.ok && check.brokenAt, 2);
    });
  }

  void it('when the first line is null, the chain breaks at entry 0 instead of throwing', () => {
    const check = verifyChainText(text(['null', ...lines.slice(1)]), head);

    assert.equal(check.ok, false);
    assert.equal(!check.ok && check.brokenAt, 0);
  });
});

interface ResultsFixture { dir: string; jwks: Jwks; signer: Signer }

/** A complete results folder, written the way activities/sign-verdict.ts and activities/collect-evidence.ts do. */
async function buildResultsFolder(signer: Signer): Promise<ResultsFixture> {
  const dir = freshDir('results');
  const score: ScoreResult = { score: 1, maxScore: 1, passed: true, checks: [{ name: 'answer is hello', passed: true }] };
  const scoreBytes = canonicalJson(score);
  writeFileSync(join(dir, RESULTS.score), scoreBytes);

  const evidenceDir = join(dir, RESULTS.evidenceDir);
  mkdirSync(join(evidenceDir, 'files', 'work'), { recursive: true });
  writeFileSync(join(evidenceDir, 'stdout.log'), 'hello from the scenario\n');
  writeFileSync(join(evidenceDir, 'files', 'work', 'answer.txt'), 'hello\n');
  writeFileSync(join(evidenceDir, 'container.json'), canonicalJson({ exitCode: 0, image: 'arbiter/hello:1' }));
  const manifest = manifestBytes(buildManifest(evidenceDir));
  writeFileSync(join(evidenceDir, MANIFEST_FILE), manifest);

  const chain = buildChain([
    { time: '2024-01-01T00:00:00.000Z', actor: 'api', event: 'requested' },
    { time: '2024-01-01T00:00:01.000Z', actor: 'workflow', event: 'started' },
    { time: '2024-01-01T00:05:00.000Z', actor: 'subject', event: 'completed' },
    { time: '2024-01-01T00:05:10.000Z', actor: 'workflow', event: 'scored' },
  ]);
  writeFileSync(join(dir, RESULTS.audit), serializeChain(chain));

  const statement = buildStatement(
    predicate({ auditHead: chain.at(-1)!.hash, keyId: signer.keyId, score: { score: score.score, maxScore: score.maxScore, passed: score.passed } }),
    { score: sha256Hex(scoreBytes), manifest: sha256Hex(manifest) },
  );
  const envelope = await signStatement(statement, signer);
  writeFileSync(join(dir, RESULTS.verdict), canonicalJson(statement));
  writeFileSync(join(dir, RESULTS.envelope), JSON.stringify(envelope, null, 2));
  return { dir, jwks: { keys: [signer.publicJwk] }, signer };
}

async function expectProblem(fx: ResultsFixture, pattern: RegExp, jwks = fx.jwks): Promise<string[]> {
  const check = await verifyResults(fx.dir, jwks);
  assert.equal(check.ok, false, 'the tampered folder must not verify');
  const problems = check.ok ? [] : check.problems;
  assert.ok(problems.some((p) => pattern.test(p)), `expected a problem matching ${String(pattern)}, got ${JSON.stringify(problems)}`);
  return problems;
}

void describe('results folder: verifyResults', () => {
  let signer: Signer;

  before(async () => {
    const keysDir = join(freshDir('results-keys'), 'keys');
    await generateKey(keysDir);
    signer = await loadSigner(keysDir);
  });

  void it('when the folder is complete and untouched, it verifies and returns the signed statement', async () => {
    const fx = await buildResultsFolder(signer);

    const check = await verifyResults(fx.dir, fx.jwks);

    assert.equal(check.ok, true, JSON.stringify(check));
    assert.equal(check.ok && check.keyId, signer.keyId);
    assert.equal(check.ok && check.statement.predicate.scenarioId, 'scn-0001');
  });

  void it('when one byte of score.json is flipped, it fails naming score.json', async () => {
    const fx = await buildResultsFolder(signer);
    const file = join(fx.dir, RESULTS.score);
    const bytes = readFileSync(file);
    const at = bytes.length - 2;
    bytes.writeUInt8(bytes.readUInt8(at) ^ 0x01, at);
    writeFileSync(file, bytes);

    await expectProblem(fx, /^score\.json does not match the signed digest$/);
  });

  void it('when an evidence file is edited, it fails naming that file', async () => {
    const fx = await buildResultsFolder(signer);
    writeFileSync(join(fx.dir, 'evidence', 'files', 'work', 'answer.txt'), 'hellp\n');

    const problems = await expectProblem(fx, /files\/work\/answer\.txt does not match its digest/);

    assert.equal(problems.length, 1);
  });

  void it('when an evidence file is edited and manifest.json regenerated, the signed manifest digest catches it', async () => {
    const fx = await buildResultsFolder(signer);
    const evidenceDir = join(fx.dir, 'evidence');
    writeFileSync(join(evidenceDir, 'stdout.log'), 'forged output\n');
    writeFileSync(join(evidenceDir, MANIFEST_FILE), manifestBytes(buildManifest(evidenceDir)));

    await expectProblem(fx, /evidence\/manifest\.json does not match the signed digest/);
  });

  void it('when an extra file is added to the evidence folder, it fails naming the extra file', async () => {
    const fx = await buildResultsFolder(signer);
    writeFileSync(join(fx.dir, 'evidence', 'files', 'extra.txt'), 'planted\n');

    await expectProblem(fx, /files\/extra\.txt is not in the manifest/);
  });

  void it('when an evidence file is deleted, it fails naming the missing file', async () => {
    const fx = await buildResultsFolder(signer);
    rmSync(join(fx.dir, 'evidence', 'stdout.log'));

    await expectProblem(fx, /stdout\.log is missing/);
  });

  void it('when a middle line is removed from audit.jsonl, it fails with an audit chain problem', async () => {
    const fx = await buildResultsFolder(signer);
    const file = join(fx.dir, RESULTS.audit);
    const auditLines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    writeFileSync(file, auditLines.filter((_, i) => i !== 1).map((l) => `${l}\n`).join(''));

    await expectProblem(fx, /^audit\.jsonl: audit chain broken: entry 1 /);
  });

  void it('when the last line of audit.jsonl is removed, it fails because the signed head is gone', async () => {
    const fx = await buildResultsFolder(signer);
    const file = join(fx.dir, RESULTS.audit);
    const auditLines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    writeFileSync(file, auditLines.slice(0, -1).map((l) => `${l}\n`).join(''));

    await expectProblem(fx, /^audit\.jsonl: audit chain broken: .*recorded head/);
  });

  void it('when an event is appended to audit.jsonl after signing, the folder still verifies and the entry is returned as unsigned', async () => {
    const fx = await buildResultsFolder(signer);
    const file = join(fx.dir, RESULTS.audit);
    const chain = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEntry);
    const held = appendEvent(chain, { time: '2024-03-01T00:00:00.000Z', actor: 'retention', event: 'held' });
    appendFileSync(file, serializeChain([held]));

    const check = await verifyResults(fx.dir, fx.jwks);

    assert.equal(check.ok, true, JSON.stringify(check));
    assert.deepEqual(check.ok && check.unsignedAuditEntries, [held]);
  });

  void it('when the JWKS lacks the signing key, it fails with a signature problem naming the key id', async () => {
    const fx = await buildResultsFolder(signer);
    const other = await publicJwkOf(await ed.getPublicKeyAsync(ed.utils.randomSecretKey()));

    await expectProblem(fx, new RegExp(`^signature: .*${signer.keyId}`), { keys: [other] });
  });

  void it('when the envelope is missing, it fails naming verdict.dsse.json', async () => {
    const fx = await buildResultsFolder(signer);
    rmSync(join(fx.dir, RESULTS.envelope));

    await expectProblem(fx, /verdict\.dsse\.json is missing/);
  });

  void it('when score.json is missing, it fails naming score.json', async () => {
    const fx = await buildResultsFolder(signer);
    rmSync(join(fx.dir, RESULTS.score));

    await expectProblem(fx, /score\.json is missing/);
  });

  for (const content of ['null', '{}']) {
    void it(`when verdict.dsse.json is ${content}, it fails with a signature problem instead of throwing`, async () => {
      const fx = await buildResultsFolder(signer);
      writeFileSync(join(fx.dir, RESULTS.envelope), content);

      await expectProblem(fx, /^signature: /);
    });
  }

  void it('when a line of audit.jsonl is null, it fails with an audit chain problem at that entry instead of throwing', async () => {
    const fx = await buildResultsFolder(signer);
    const file = join(fx.dir, RESULTS.audit);
    const auditLines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    auditLines[1] = 'null';
    writeFileSync(file, auditLines.map((l) => `${l}\n`).join(''));

    await expectProblem(fx, /^audit\.jsonl: audit chain broken: entry 1 /);
  });

  void it('when evidence/manifest.json is {}, it fails naming the manifest\'s digest and reads no evidence on its word', async () => {
    const fx = await buildResultsFolder(signer);
    writeFileSync(join(fx.dir, 'evidence', MANIFEST_FILE), '{}');

    const problems = await expectProblem(fx, /^evidence\/manifest\.json does not match the signed digest$/);

    assert.deepEqual(problems, ['evidence/manifest.json does not match the signed digest']);
  });

  void it('when `arbiter verify` is given many folders and one is tampered, it checks every one, names the bad one, sums up and exits 1', async () => {
    const folders = [await buildResultsFolder(signer), await buildResultsFolder(signer), await buildResultsFolder(signer)];
    writeFileSync(join(folders[1]!.dir, 'evidence', 'stdout.log'), 'forged\n');
    const keys = join(freshDir('cli-keys'), 'jwks.json');
    writeFileSync(keys, JSON.stringify(folders[0]!.jwks));
    const cli = (...args: string[]) => promisify(execFile)(process.execPath, [join(REPO_ROOT, 'bin', 'arbiter.js'), ...args], { env: { ...process.env, ARBITER_ENV_FILE: '/nonexistent' } });

    const failure = await cli('verify', '--keys', keys, ...folders.map((f) => f.dir)).then(() => undefined, (err: { code: number; stdout: string }) => err);
    assert.ok(failure, 'exits non-zero');
    assert.equal(failure.code, 1);
    const lines = failure.stdout.trim().split('\n');
    assert.equal(lines.filter((l) => l.startsWith('verified: scn-0001')).length, 2, failure.stdout);
    assert.ok(lines.includes(`verification FAILED for ${folders[1]!.dir}:`), failure.stdout);
    assert.match(lines.at(-1)!, /^2 verified, 1 failed, in \d+\.\d\d s \([\d,]+ folders\/s\)$/);

    // --json: one object per folder, then the sum, for scripts.
    const json = await cli('--json', 'verify', '--keys', keys, folders[0]!.dir, folders[2]!.dir);
    const objects = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { ok?: boolean; dir?: string; verified?: number; failed?: number });
    assert.deepEqual(objects.slice(0, 2).map((o) => [o.ok, o.dir]), [[true, folders[0]!.dir], [true, folders[2]!.dir]]);
    assert.deepEqual([objects[2]!.verified, objects[2]!.failed], [2, 0]);
  });
});

void describe('evidence manifest', () => {
  void it('when built, it lists every file except manifest.json with its sha256 and size, sorted by path with "/" separators', async () => {
    const dir = freshDir('manifest');
    mkdirSync(join(dir, 'b', 'c'), { recursive: true });
    writeFileSync(join(dir, 'z.txt'), 'zz');
    writeFileSync(join(dir, 'b', 'c', 'a.txt'), 'a');
    writeFileSync(join(dir, MANIFEST_FILE), '{}');

    const manifest = buildManifest(dir);

    assert.deepEqual(manifest, {
      files: [
        { path: 'b/c/a.txt', sha256: sha256Hex('a'), size: 1 },
        { path: 'z.txt', sha256: sha256Hex('zz'), size: 2 },
      ],
    });
    assert.deepEqual(await checkManifest(dir, manifest, { readContents: true, maxFileBytes: 1024, maxEntries: 100, maxDepth: 8 }), []);
  });
});
