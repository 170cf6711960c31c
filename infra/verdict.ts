// A verdict is an in-toto Statement v1 whose subjects are the score and the evidence manifest,
// wrapped in a DSSE envelope. The Ed25519 signature covers DSSE's pre-authentication encoding
// (PAE) of the canonical statement, so neither the payload type nor the bytes can be swapped.
import { canonicalJson } from '../lib/canonical-json.ts';
import { verifyEd25519, type Jwks, type Signer } from './keys.ts';
import { pae, PAYLOAD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE, type DsseEnvelope, type Statement, type VerdictPredicate } from '../lib/verdict-format.ts';

export { pae, PAYLOAD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE, type DsseEnvelope, type ScoreResult, type Statement, type VerdictPredicate } from '../lib/verdict-format.ts';

export function buildStatement(p: VerdictPredicate, digests: { score: string; manifest: string }): Statement {
  return {
    _type: STATEMENT_TYPE,
    subject: [
      { name: 'score.json', digest: { sha256: digests.score } },
      { name: 'evidence/manifest.json', digest: { sha256: digests.manifest } },
    ],
    predicateType: PREDICATE_TYPE,
    predicate: p,
  };
}


export async function signStatement(statement: Statement, signer: Signer): Promise<DsseEnvelope> {
  const payload = Buffer.from(canonicalJson(statement), 'utf8');
  const sig = await signer.sign(pae(PAYLOAD_TYPE, payload));
  return {
    payloadType: PAYLOAD_TYPE,
    payload: payload.toString('base64'),
    signatures: [{ keyid: signer.keyId, sig: Buffer.from(sig).toString('base64') }],
  };
}

export type EnvelopeCheck = { ok: true; statement: Statement; keyId: string } | { ok: false; reason: string };

/** Verifies an envelope against a JWKS; any one signature by a known key is enough. */
export async function verifyEnvelope(envelope: DsseEnvelope, jwks: Jwks): Promise<EnvelopeCheck> {
  // The envelope comes from disk or the network: check its shape before touching any field.
  if (!envelope || typeof envelope !== 'object') return { ok: false, reason: 'envelope is not an object' };
  if (envelope.payloadType !== PAYLOAD_TYPE) return { ok: false, reason: `payload type is ${String(envelope.payloadType)}` };
  if (typeof envelope.payload !== 'string') return { ok: false, reason: 'envelope has no payload' };
  if (!Array.isArray(envelope.signatures)) return { ok: false, reason: 'envelope has no signature list' };
  const payload = Buffer.from(envelope.payload, 'base64');
  const message = pae(envelope.payloadType, payload);
  for (const s of envelope.signatures as unknown[]) {
    if (!s || typeof s !== 'object') continue;
    const { keyid, sig } = s as { keyid?: unknown; sig?: unknown };
    if (typeof keyid !== 'string' || typeof sig !== 'string') continue;
    const key = jwks.keys.find((k) => k.kid === keyid);
    if (!key) continue;
    if (await verifyEd25519(Buffer.from(sig, 'base64'), message, key)) {
      let statement: Statement;
      try {
        statement = JSON.parse(payload.toString('utf8')) as Statement;
      } catch {
        return { ok: false, reason: 'signed payload is not JSON' };
      }
      if (statement._type !== STATEMENT_TYPE || statement.predicateType !== PREDICATE_TYPE) {
        return { ok: false, reason: 'signed payload is not an Arbiter verdict statement' };
      }
      if (!statement?.predicate || !Array.isArray(statement.subject)) return { ok: false, reason: 'signed statement lacks its subject or predicate' };
      return { ok: true, statement, keyId: keyid };
    }
  }
  const kids = (envelope.signatures as Array<{ keyid?: unknown } | null>).map((s) => String(s?.keyid)).join(', ');
  return { ok: false, reason: `no valid signature by a known key (signed by: ${kids || 'nobody'})` };
}
