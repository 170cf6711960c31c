// RFC 8785 (JCS) canonical JSON through `canonicalize`. Wrapped so that values JCS cannot
// represent (undefined at the top, functions, NaN) fail loudly instead of hashing "undefined".
import canonicalize from 'canonicalize';
// Pure JS sha256, so the audit chain can hash inside the workflow sandbox; files are hashed with
// node:crypto in infra/sha256.ts, where OpenSSL's speed matters.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';

export function canonicalJson(value: unknown): string {
  const out = canonicalize(value);
  if (typeof out !== 'string') throw new TypeError('value has no canonical JSON form');
  return out;
}

export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}

export function sha256Hex(data: string | Uint8Array): string {
  return bytesToHex(sha256(typeof data === 'string' ? utf8ToBytes(data) : data));
}
