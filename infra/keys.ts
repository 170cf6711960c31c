// Verdict signing keys: Ed25519, identified by their RFC 7638 JWK thumbprint and published as an
// RFC 8037 JWKS. The file key store keeps private keys in the keys directory (mode 0600), signing
// through @noble/ed25519; a PKCS#11 token keeps them itself (infra/pkcs11-keys.ts) and the keys
// directory then holds only their public halves, so the deployment's key store (what
// `arbiter verify` and the API's JWKS read) still lists every key. Only public JWKs are ever
// written under storage/ (and, with a shared artifact store, under its keys/jwks.json).
import type { ArtifactStore } from './artifact-store.ts';
import { mkdirSync, readFileSync, readdirSync, writeFileSync, existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { createPublicKey, verify as opensslVerify, type KeyObject } from 'node:crypto';
import * as ed from '@noble/ed25519';
import { calculateJwkThumbprint } from 'jose';

export interface PublicJwk { kty: 'OKP'; crv: 'Ed25519'; x: string; kid: string; alg: 'EdDSA'; use: 'sig' }
export interface Jwks { keys: PublicJwk[] }

/** What a verdict signer must do; a KMS-backed signer implements the same three members. */
export interface Signer {
  readonly keyId: string;
  readonly publicJwk: PublicJwk;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/**
 * Where a deployment's signing keys live. The file store and a PKCS#11 token both implement it;
 * configuration picks one (infra/signer.ts).
 */
export interface KeyStore {
  /** for messages: "keys directory /x", "PKCS#11 token \"arbiter-dev\"" */
  readonly description: string;
  /** whether there is a current key */
  hasKey(): Promise<boolean>;
  /** creates a new key and makes it current; older keys stay for verification */
  generate(now?: Date): Promise<PublicJwk>;
  /** the current key's signer; fails when there is none */
  signer(): Promise<Signer>;
  /** every key of the store, current and retired */
  list(): Promise<PublicJwk[]>;
  close(): Promise<void>;
}

interface StoredKey { kid: string; x: string; d: string; createdAt: string }
/** The public half of a key held elsewhere (a token), recorded so the key store lists it. */
interface RecordedPublicKey { kid: string; x: string; heldBy: string; recordedAt: string }

const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const fromB64u = (s: string) => new Uint8Array(Buffer.from(s, 'base64url'));

export async function publicJwkOf(publicKey: Uint8Array): Promise<PublicJwk> {
  const x = b64u(publicKey);
  const kid = await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x }, 'sha256');
  return { kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA', use: 'sig' };
}

/** Creates a new key, makes it current, and returns its id. Older keys stay for verification. */
export async function generateKey(keysDir: string, now = new Date()): Promise<PublicJwk> {
  mkdirSync(keysDir, { recursive: true, mode: 0o700 });
  const secret = ed.utils.randomSecretKey();
  const jwk = await publicJwkOf(await ed.getPublicKeyAsync(secret));
  const stored: StoredKey = { kid: jwk.kid, x: jwk.x, d: b64u(secret), createdAt: now.toISOString() };
  writeFileSync(join(keysDir, `${jwk.kid}.key.json`), JSON.stringify(stored), { mode: 0o600 });
  // Rename is atomic: a reader sees the old or the new current key, never half a file.
  writeFileSync(join(keysDir, 'current.tmp'), jwk.kid, { mode: 0o600 });
  renameSync(join(keysDir, 'current.tmp'), join(keysDir, 'current'));
  return jwk;
}

export function hasKey(keysDir: string): boolean {
  return existsSync(join(keysDir, 'current'));
}

export async function loadSigner(keysDir: string): Promise<Signer> {
  const currentFile = join(keysDir, 'current');
  if (!existsSync(currentFile)) throw new Error(`no signing key in ${keysDir}: run "arbiter keys generate"`);
  const kid = readFileSync(currentFile, 'utf8').trim();
  const stored = JSON.parse(readFileSync(join(keysDir, `${kid}.key.json`), 'utf8')) as StoredKey;
  const secret = fromB64u(stored.d);
  const publicJwk = await publicJwkOf(await ed.getPublicKeyAsync(secret));
  if (publicJwk.kid !== kid) throw new Error(`signing key ${kid} does not match its stored public key`);
  return { keyId: kid, publicJwk, sign: (message) => ed.signAsync(message, secret) };
}

export function fileKeyStore(keysDir: string): KeyStore {
  return {
    description: `keys directory ${keysDir}`,
    hasKey: () => Promise.resolve(hasKey(keysDir)),
    generate: (now) => generateKey(keysDir, now),
    signer: () => loadSigner(keysDir),
    list: async () => (await publicJwks(keysDir)).keys.filter((k) => existsSync(join(keysDir, `${k.kid}.key.json`))),
    close: () => Promise.resolve(),
  };
}

/**
 * Records the public half of keys another store holds (a token), once each: the keys directory
 * then lists them for `arbiter verify` and the API even after the token is gone or replaced.
 */
export function recordPublicKeys(keysDir: string, keys: readonly PublicJwk[], heldBy: string, now = new Date()): string[] {
  mkdirSync(keysDir, { recursive: true, mode: 0o700 });
  const recorded: string[] = [];
  for (const k of keys) {
    const file = join(keysDir, `${k.kid}.pub.json`);
    if (existsSync(file) || existsSync(join(keysDir, `${k.kid}.key.json`))) continue;
    const record: RecordedPublicKey = { kid: k.kid, x: k.x, heldBy, recordedAt: now.toISOString() };
    writeFileSync(`${file}.tmp`, JSON.stringify(record), { mode: 0o644 });
    renameSync(`${file}.tmp`, file);
    recorded.push(k.kid);
  }
  return recorded;
}

/**
 * Every key ever generated here or recorded from a token, current and retired: retired keys
 * still verify old verdicts. Each kid is recomputed from the public key, never taken as written.
 */
export async function publicJwks(keysDir: string): Promise<Jwks> {
  if (!existsSync(keysDir)) return { keys: [] };
  const byKid = new Map<string, PublicJwk>();
  for (const f of readdirSync(keysDir).filter((n) => n.endsWith('.key.json') || n.endsWith('.pub.json')).sort()) {
    const stored = JSON.parse(readFileSync(join(keysDir, f), 'utf8')) as Pick<StoredKey, 'x'>;
    const jwk = await publicJwkOf(fromB64u(stored.x));
    byKid.set(jwk.kid, jwk);
  }
  return { keys: [...byKid.values()].sort((a, b) => (a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0)) };
}

/** Where the public half of the keys is published, in the artifact store (storage/keys/jwks.json locally). */
export const JWKS_KEY = 'keys/jwks.json';

export async function publishJwks(keysDir: string, storageDir: string, store?: ArtifactStore): Promise<Jwks> {
  const jwks = await publicJwks(keysDir);
  const text = JSON.stringify(jwks, null, 2);
  const dir = join(storageDir, 'keys');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'jwks.tmp'), text);
  renameSync(join(dir, 'jwks.tmp'), join(dir, 'jwks.json'));
  // The store's copy is the one other machines (the API, `arbiter results download`) read.
  if (store?.remote) await store.put(JWKS_KEY, text);
  return jwks;
}

/**
 * A verification key as @noble/ed25519's strict mode sees it: `refused` when its encoding is not
 * canonical or it is of small order (strict verification then fails whatever the signature), else
 * the OpenSSL key object, or `noble-only` when node:crypto cannot import it.
 */
type VerifyKey = KeyObject | 'refused' | 'noble-only';
const verifyKeys = new Map<string, VerifyKey>();
const VERIFY_KEYS_CACHED = 64;

function verifyKeyOf(x: string): VerifyKey {
  let key = verifyKeys.get(x);
  if (key) return key;
  try {
    const point = ed.Point.fromBytes(fromB64u(x), false);
    key = point.isSmallOrder() ? 'refused' : 'noble-only';
  } catch {
    key = 'refused';
  }
  if (key === 'noble-only') {
    try {
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
    } catch { /* verified by noble alone */ }
  }
  // Keys come from a JWKS, a handful at a time; the bound only stops a stream of odd keys growing it.
  if (verifyKeys.size >= VERIFY_KEYS_CACHED) verifyKeys.clear();
  verifyKeys.set(x, key);
  return key;
}

/**
 * Strict RFC 8032 verification (zip215: false): non-canonical encodings and small-order keys are
 * refused, so a verdict has exactly one valid signature encoding under a given key.
 *
 * The answer is always @noble/ed25519's strict one; OpenSSL computes it in the common case, about
 * ten times faster (bench/verdicts.ts). OpenSSL checks S < L and the cofactorless equation against
 * the exact R bytes, so when it accepts, under a key noble's strict decoding accepts and that is
 * not of small order, the cofactored equation noble checks holds too. When OpenSSL refuses, noble
 * decides: a signature crafted with torsion components can pass the cofactored check alone.
 */
export async function verifyEd25519(signature: Uint8Array, message: Uint8Array, jwk: Pick<PublicJwk, 'x'>): Promise<boolean> {
  try {
    const key = verifyKeyOf(jwk.x);
    if (key === 'refused' || signature.length !== 64) return false;
    if (key !== 'noble-only' && opensslVerify(null, message, key, signature)) return true;
    return await ed.verifyAsync(signature, message, fromB64u(jwk.x), { zip215: false });
  } catch {
    return false;
  }
}
