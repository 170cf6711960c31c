// sha256 of files and other large buffers through OpenSSL (node:crypto), many times faster than
// the pure-JS hash lib/canonical-json.ts uses for small canonical JSON inside the workflow sandbox.
import { createHash } from 'node:crypto';

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
