// Where `arbiter verify` takes its trust anchor from. Never from the material it verifies: a
// forger who ships a results folder can ship a JWKS beside it just as easily (their own key under
// the real key id). So the keys are either named by the user (--keys), or are the key store of a
// deployment someone configured on purpose (ARBITER_KEYS_DIR, absolute, in the environment or the
// env file bin/arbiter.js loads). A default relative to the current directory is refused too: the
// current directory may well be the unpacked material.
import { realpath } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { publicJwks, type Jwks } from './keys.ts';
import { entryKind, readRegularFile } from './untrusted-files.ts';

export interface KeySource {
  jwks: Jwks;
  /** absolute path of the JWKS file or key store read */
  path: string;
  /** how it was chosen, for the line every run prints */
  origin: '--keys' | 'ARBITER_KEYS_DIR';
}

export class KeySourceError extends Error {}

const JWKS_MAX_BYTES = 1024 * 1024;

export async function resolveVerifyKeys(keysOption: string | undefined, env: NodeJS.ProcessEnv): Promise<KeySource> {
  if (keysOption !== undefined) return { ...(await readJwksPath(resolve(keysOption))), origin: '--keys' };
  const configured = env.ARBITER_KEYS_DIR?.trim();
  if (!configured) {
    throw new KeySourceError('verify needs public keys from outside the folders it checks: pass --keys <jwks file> (for example the JWKS from /.well-known/arbiter/keys), or run it in a deployment that sets ARBITER_KEYS_DIR');
  }
  if (!isAbsolute(configured)) {
    throw new KeySourceError(`ARBITER_KEYS_DIR is "${configured}", a path relative to the current directory: set it to an absolute path, or pass --keys`);
  }
  const jwks = await publicJwks(configured);
  if (jwks.keys.length === 0) throw new KeySourceError(`the deployment's key store ${configured} (ARBITER_KEYS_DIR) holds no keys: pass --keys`);
  return { jwks, path: configured, origin: 'ARBITER_KEYS_DIR' };
}

async function readJwksPath(given: string): Promise<{ jwks: Jwks; path: string }> {
  // The user named this path, links and all; the line printed shows where it really leads.
  let path: string;
  try {
    path = await realpath(given);
  } catch (err) {
    throw new KeySourceError(`no public keys at ${given} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): pass --keys <jwks file>`);
  }
  const kind = await entryKind(path, path);
  if (!kind.ok) throw new KeySourceError(`no public keys at ${path}: ${kind.problem}`);
  const file = kind.kind === 'directory' ? join(path, 'jwks.json') : path;
  const r = await readRegularFile(file, file, { maxBytes: JWKS_MAX_BYTES });
  if (!r.ok) throw new KeySourceError(`cannot use ${file} as keys: ${r.problem}`);
  let jwks: Jwks;
  try {
    jwks = JSON.parse(r.bytes.toString('utf8')) as Jwks;
  } catch (err) {
    throw new KeySourceError(`${file} is not a readable JWKS: ${(err as Error).message}`);
  }
  if (!jwks || typeof jwks !== 'object' || !Array.isArray(jwks.keys)) throw new KeySourceError(`${file} is not a JWKS (no "keys" list)`);
  return { jwks, path: file };
}
