// api/verifier/verify.ts, the verification the browser page runs, against the Node verifier
// (lib/verdict.ts): both accept what Arbiter signs, both refuse every tampered copy, and the
// browser one is just as strict about Ed25519 (RFC 8032, not ZIP-215).
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ed from '@noble/ed25519';
import { okpThumbprint, pae, verifyVerdict, PAYLOAD_TYPE } from '../../api/verifier/verify.ts';
import { generateKey, loadSigner, publicJwks, type Jwks, type Signer } from '../../lib/keys.ts';
import { buildStatement, signStatement, verifyEnvelope, type DsseEnvelope } from '../../lib/verdict.ts';

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
