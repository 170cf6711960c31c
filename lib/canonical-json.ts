// RFC 8785 (JCS) canonical JSON through `canonicalize`. Wrapped so that values JCS cannot
// represent (undefined at the top, functions, NaN) fail loudly instead of hashing "undefined".
import canonicalize from 'canonicalize';
import { createHash } from 'node:crypto';

export function canonicalJson(value: unknown): string {
  const out = canonicalize(value);
  if (typeof out !== 'string') throw new TypeError('value has no canonical JSON form');
  return out;
}

export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
