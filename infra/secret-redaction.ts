// Secrets never go into evidence: evidence is handed to the scorer, bound by the verdict and kept
// for the retention period, and its readers include the subject being judged. A bearer token that
// reached evidence (printed by a scenario host, captured from an environment, written to a file)
// would let whoever reads the bundle act with it, so every Arbiter-issued JWT (found by its `typ`
// header, whoever minted it and whatever it is for) and every secret the caller names is replaced.
import { decodeProtectedHeader } from 'jose';
import { TOKEN_KINDS } from './tokens.ts';

export const REDACTED = '[redacted]';

const ARBITER_TYPS: ReadonlySet<string> = new Set(Object.values(TOKEN_KINDS).map((k) => k.typ));
// A compact JWS whose header is a JSON object: base64url of `{"` is `eyJ`.
const COMPACT_JWS = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g;

function isArbiterToken(candidate: string): boolean {
  try {
    const typ = decodeProtectedHeader(candidate).typ;
    return typ !== undefined && ARBITER_TYPS.has(typ);
  } catch {
    return false;
  }
}

export interface Redaction { bytes: Buffer; redacted: number }

/**
 * The bytes with every Arbiter token and every given secret replaced by REDACTED. Works on any
 * bytes: latin1 maps each byte to one code unit and back, so bytes that are not UTF-8 (a binary
 * answer file) come out unchanged wherever nothing was replaced.
 */
export function redactSecrets(bytes: Buffer, secrets: readonly string[] = []): Redaction {
  let text = bytes.toString('latin1');
  let redacted = 0;
  text = text.replace(COMPACT_JWS, (m) => {
    if (!isArbiterToken(m)) return m;
    redacted++;
    return REDACTED;
  });
  // Longest first, so a secret that contains another is replaced whole.
  for (const secret of [...secrets].filter((s) => s.length > 0).sort((a, b) => b.length - a.length)) {
    const needle = Buffer.from(secret, 'utf8').toString('latin1');
    const parts = text.split(needle);
    redacted += parts.length - 1;
    text = parts.join(REDACTED);
  }
  return redacted === 0 ? { bytes, redacted } : { bytes: Buffer.from(text, 'latin1'), redacted };
}
