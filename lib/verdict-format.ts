// The verdict's wire format, shared by the Node signer/verifier (infra/verdict.ts) and the browser
// verifier (api/verifier/verify.ts): type URIs, the signed predicate, the statement and envelope
// shapes, and DSSE's pre-authentication encoding. No Node APIs here, so the browser bundle can
// import it.

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const PREDICATE_TYPE = 'https://arbiter.dev/attestation/verdict/v1';
export const PAYLOAD_TYPE = 'application/vnd.in-toto+json';

export interface VerdictPredicate {
  scenarioId: string;
  subject: string;
  tenant: string;
  plan: string;
  track: string;
  template: { id: string; version: string; digest: string };
  policy: { sha256: string; allow: boolean };
  outcome: string;
  status: string;
  score: { score: number; maxScore: number; passed: boolean };
  auditHead: string;
  issuedAt: string;
  keyId: string;
}

export interface ScoreResult {
  score: number;
  maxScore: number;
  passed: boolean;
  checks: Array<{ name: string; passed: boolean }>;
}

export interface Statement {
  _type: typeof STATEMENT_TYPE;
  subject: Array<{ name: string; digest: { sha256: string } }>;
  predicateType: typeof PREDICATE_TYPE;
  predicate: VerdictPredicate;
}

export interface DsseEnvelope {
  payloadType: string;
  payload: string;
  signatures: Array<{ keyid: string; sig: string }>;
}

const utf8 = new TextEncoder();

/** DSSE v1 pre-authentication encoding (lengths in bytes). */
export function pae(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = utf8.encode(payloadType);
  const header = utf8.encode(`DSSEv1 ${type.length} ${payloadType} ${payload.length} `);
  const out = new Uint8Array(header.length + payload.length);
  out.set(header);
  out.set(payload, header.length);
  return out;
}
