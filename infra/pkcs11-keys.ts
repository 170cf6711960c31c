// Verdict signing keys held in a PKCS#11 token (an HSM; SoftHSM2 in development and tests), through
// the pkcs11js binding: Ed25519 key pairs generated inside the token (CKM_EC_EDWARDS_KEY_PAIR_GEN)
// with a private half that is sensitive and never extractable, signatures made by the token
// (CKM_EDDSA). Only public halves ever leave it.
//
// A key pair's CKA_LABEL and CKA_ID are its kid (the RFC 7638 thumbprint of its public JWK), so the
// id a verdict carries finds the key again. Which key is current is recorded in the token too, as
// data objects numbered by rotation: creating the next one is the single step that switches keys,
// so an interrupted rotation leaves the old key current, never none.
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';
import type { Handle, PKCS11, Template } from 'pkcs11js';
import { ConfigError } from '../lib/errors.ts';
import { publicJwkOf, verifyEd25519, type KeyStore, type PublicJwk, type Signer } from './keys.ts';

export interface Pkcs11Settings {
  /** path of the PKCS#11 library (ARBITER_PKCS11_MODULE) */
  module: string;
  /** label of the token (ARBITER_PKCS11_TOKEN) */
  token: string;
  /** the token's user PIN (ARBITER_PKCS11_PIN) */
  pin: string | undefined;
}

// PKCS#11 3.0 values (SoftHSM2 2.6 has them); pkcs11js 2.1 predates them and does not export them.
const CKK_EC_EDWARDS = 0x40;
const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
const CKM_EDDSA = 0x1057;
/** CKA_EC_PARAMS of Ed25519: the DER of its OID, 1.3.101.112 (RFC 8410). */
const ED25519_PARAMS = Buffer.from('06032b6570', 'hex');
const APPLICATION = 'arbiter';
const CURRENT_LABEL = 'arbiter-current-signing-key';

type Binding = typeof import('pkcs11js');
interface PkcsError { code?: number; message: string }

/** The binding, loaded only by a process configured for a token: the file signer needs no native build. */
function binding(): Binding {
  try {
    return createRequire(import.meta.url)('pkcs11js') as Binding;
  } catch (err) {
    throw new ConfigError(`ARBITER_SIGNER=pkcs11 needs the pkcs11js native module, which did not load (${(err as Error).message}): run "npm ci" (its build needs python3, make and a C++ compiler)`);
  }
}

/**
 * A PKCS#11 library is initialised once per process whatever the number of users, and finalised
 * when the last one closes: C_Initialize twice in one process is an error.
 */
const loaded = new Map<string, { lib: PKCS11; users: number }>();

function acquireModule(pk: Binding, path: string): PKCS11 {
  const known = loaded.get(path);
  if (known) {
    known.users += 1;
    return known.lib;
  }
  const lib = new pk.PKCS11();
  try {
    lib.load(path);
  } catch (err) {
    throw new ConfigError(`ARBITER_PKCS11_MODULE: cannot load the PKCS#11 library ${path}: ${(err as Error).message}`);
  }
  try {
    lib.C_Initialize();
  } catch (err) {
    if ((err as PkcsError).code !== pk.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      lib.close();
      throw new ConfigError(`ARBITER_PKCS11_MODULE: ${path} loaded but did not initialise (${(err as Error).message}); for SoftHSM2, check that SOFTHSM2_CONF names a readable configuration`);
    }
  }
  loaded.set(path, { lib, users: 1 });
  return lib;
}

function releaseModule(path: string): void {
  const known = loaded.get(path);
  if (!known || --known.users > 0) return;
  loaded.delete(path);
  try {
    known.lib.C_Finalize();
  } finally {
    known.lib.close();
  }
}

const label = (s: string) => s.replace(/[ \0]+$/, '');

/** The slot of the one initialised token labelled `token`. */
function findSlot(pk: Binding, lib: PKCS11, s: Pkcs11Settings): Handle {
  const tokens = lib.C_GetSlotList(true).flatMap((slot) => {
    const info = lib.C_GetTokenInfo(slot);
    return info.flags & pk.CKF_TOKEN_INITIALIZED ? [{ slot, label: label(info.label) }] : [];
  });
  const matching = tokens.filter((t) => t.label === s.token);
  if (matching.length === 0) {
    const others = tokens.map((t) => `"${t.label}"`).join(', ') || 'none';
    throw new ConfigError(`ARBITER_PKCS11_TOKEN: no token labelled "${s.token}" in ${s.module} (initialised tokens there: ${others})`);
  }
  if (matching.length > 1) throw new ConfigError(`ARBITER_PKCS11_TOKEN: ${matching.length} tokens are labelled "${s.token}" in ${s.module}: give the signing token a label of its own`);
  return matching[0]!.slot;
}

/** A read-write session logged in as the token's user. */
function openSession(pk: Binding, lib: PKCS11, s: Pkcs11Settings): Handle {
  if (!s.pin) throw new ConfigError(`ARBITER_PKCS11_PIN is required when ARBITER_SIGNER=pkcs11: the user PIN of token "${s.token}"`);
  const session = lib.C_OpenSession(findSlot(pk, lib, s), pk.CKF_SERIAL_SESSION | pk.CKF_RW_SESSION);
  try {
    lib.C_Login(session, pk.CKU_USER, s.pin);
  } catch (err) {
    const code = (err as PkcsError).code;
    // Login is per application, not per session: another session of this process may have done it.
    if (code === pk.CKR_USER_ALREADY_LOGGED_IN) return session;
    lib.C_CloseSession(session);
    const why = (err as Error).message;
    if (code === pk.CKR_PIN_INCORRECT || code === pk.CKR_PIN_INVALID || code === pk.CKR_PIN_LEN_RANGE) {
      throw new ConfigError(`ARBITER_PKCS11_PIN: token "${s.token}" refused the PIN (${why})`);
    }
    if (code === pk.CKR_PIN_LOCKED) throw new ConfigError(`ARBITER_PKCS11_PIN: token "${s.token}" has locked its user PIN (${why}): its security officer must unlock it`);
    throw new ConfigError(`ARBITER_PKCS11_TOKEN: logging in to token "${s.token}" failed (${why})`);
  }
  return session;
}

function findObjects(lib: PKCS11, session: Handle, template: Template): Handle[] {
  lib.C_FindObjectsInit(session, template);
  try {
    return lib.C_FindObjects(session, 1000);
  } finally {
    lib.C_FindObjectsFinal(session);
  }
}

/** CKA_EC_POINT of an Edwards key: the 32 bytes, DER-wrapped as an OCTET STRING by most tokens (SoftHSM2 does) or bare. */
function edwardsPoint(value: Buffer): Uint8Array {
  if (value.length === 34 && value[0] === 0x04 && value[1] === 0x20) return value.subarray(2);
  if (value.length === 32) return value;
  throw new Error(`the token returned an Ed25519 public key of ${value.length} bytes`);
}

/** Errors after which a new session may succeed: the token or its server dropped ours. */
function sessionLost(pk: Binding, err: unknown): boolean {
  const code = (err as PkcsError).code;
  return [pk.CKR_SESSION_HANDLE_INVALID, pk.CKR_SESSION_CLOSED, pk.CKR_USER_NOT_LOGGED_IN, pk.CKR_DEVICE_REMOVED, pk.CKR_TOKEN_NOT_PRESENT].includes(code ?? -1);
}

/**
 * Opens the token: loads the library, finds the token by label and logs in. A missing library,
 * token or PIN, or a refused PIN, is a ConfigError naming the variable to fix.
 */
export function openPkcs11KeyStore(s: Pkcs11Settings): KeyStore {
  const pk = binding();
  const lib = acquireModule(pk, s.module);
  let session: Handle;
  try {
    session = openSession(pk, lib, s);
  } catch (err) {
    releaseModule(s.module);
    throw err;
  }
  let closed = false;

  const attribute = (object: Handle, type: number): Buffer => lib.C_GetAttributeValue(session, object, [{ type }])[0]!.value;

  const publicKeys = (extra: Template = []) => findObjects(lib, session, [
    { type: pk.CKA_CLASS, value: pk.CKO_PUBLIC_KEY }, { type: pk.CKA_KEY_TYPE, value: CKK_EC_EDWARDS }, ...extra,
  ]);

  const jwkOf = (publicKey: Handle) => publicJwkOf(edwardsPoint(attribute(publicKey, pk.CKA_EC_POINT)));

  /** The rotation markers, newest last. */
  const markers = () => findObjects(lib, session, [
    { type: pk.CKA_CLASS, value: pk.CKO_DATA }, { type: pk.CKA_APPLICATION, value: APPLICATION }, { type: pk.CKA_LABEL, value: CURRENT_LABEL },
  ]).map((handle) => ({ handle, ...(JSON.parse(attribute(handle, pk.CKA_VALUE).toString('utf8')) as { seq: number; kid: string }) }))
    .sort((a, b) => a.seq - b.seq);

  const currentKid = () => markers().at(-1)?.kid;

  const privateKeyOf = (kid: string): Handle => {
    const found = findObjects(lib, session, [
      { type: pk.CKA_CLASS, value: pk.CKO_PRIVATE_KEY }, { type: pk.CKA_KEY_TYPE, value: CKK_EC_EDWARDS }, { type: pk.CKA_LABEL, value: kid },
    ]);
    if (found.length !== 1) throw new Error(`token "${s.token}" holds ${found.length} private keys labelled ${kid}, expected one`);
    return found[0]!;
  };

  // Synchronous calls: a session runs one signing operation at a time, and nothing else of this
  // process can start another between C_SignInit and C_Sign. A token answers in microseconds
  // (SoftHSM2) to a few milliseconds (a network HSM).
  const signWith = (key: Handle, message: Uint8Array): Uint8Array => {
    lib.C_SignInit(session, { mechanism: CKM_EDDSA }, key);
    return new Uint8Array(lib.C_Sign(session, Buffer.from(message), Buffer.alloc(64)));
  };

  return {
    description: `PKCS#11 token "${s.token}"`,

    hasKey: () => Promise.resolve(currentKid() !== undefined),

    async list() {
      const keys: PublicJwk[] = [];
      for (const handle of publicKeys()) {
        const jwk = await jwkOf(handle);
        // Only Arbiter's keys: other applications' keys in the same token carry other labels.
        if (label(attribute(handle, pk.CKA_LABEL).toString('utf8')) === jwk.kid) keys.push(jwk);
      }
      return keys.sort((a, b) => (a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0));
    },

    async generate() {
      // Generated under a label of its own: the kid is the public key's thumbprint, known only after.
      const pending = `arbiter-pending-${randomUUID()}`;
      const { publicKey, privateKey } = lib.C_GenerateKeyPair(session, { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN }, [
        { type: pk.CKA_TOKEN, value: true }, { type: pk.CKA_PRIVATE, value: false }, { type: pk.CKA_VERIFY, value: true },
        { type: pk.CKA_EC_PARAMS, value: ED25519_PARAMS }, { type: pk.CKA_LABEL, value: pending },
      ], [
        { type: pk.CKA_TOKEN, value: true }, { type: pk.CKA_PRIVATE, value: true }, { type: pk.CKA_SIGN, value: true },
        { type: pk.CKA_SENSITIVE, value: true }, { type: pk.CKA_EXTRACTABLE, value: false }, { type: pk.CKA_LABEL, value: pending },
      ]);
      let committed = false;
      try {
        const jwk = await jwkOf(publicKey);
        const named: Template = [{ type: pk.CKA_LABEL, value: jwk.kid }, { type: pk.CKA_ID, value: Buffer.from(jwk.kid) }];
        lib.C_SetAttributeValue(session, publicKey, named);
        lib.C_SetAttributeValue(session, privateKey, named);
        const previous = markers();
        lib.C_CreateObject(session, [
          { type: pk.CKA_CLASS, value: pk.CKO_DATA }, { type: pk.CKA_TOKEN, value: true }, { type: pk.CKA_PRIVATE, value: true },
          { type: pk.CKA_APPLICATION, value: APPLICATION }, { type: pk.CKA_LABEL, value: CURRENT_LABEL },
          { type: pk.CKA_VALUE, value: Buffer.from(JSON.stringify({ seq: (previous.at(-1)?.seq ?? 0) + 1, kid: jwk.kid })) },
        ]);
        committed = true;
        // The new marker decides now; older ones are only tidied away (a leftover changes nothing).
        try {
          for (const m of previous) lib.C_DestroyObject(session, m.handle);
        } catch { /* left for the next rotation */ }
        return jwk;
      } catch (err) {
        if (!committed) for (const h of [publicKey, privateKey]) lib.C_DestroyObject(session, h);
        throw err;
      }
    },

    async signer(): Promise<Signer> {
      const kid = currentKid();
      if (!kid) throw new ConfigError(`ARBITER_PKCS11_TOKEN: token "${s.token}" holds no Arbiter signing key: run "arbiter keys generate" with ARBITER_SIGNER=pkcs11`);
      let key = privateKeyOf(kid);
      const publics = publicKeys([{ type: pk.CKA_LABEL, value: kid }]);
      if (publics.length !== 1) throw new Error(`token "${s.token}" holds ${publics.length} public keys labelled ${kid}, expected one`);
      const publicJwk = await jwkOf(publics[0]!);
      if (publicJwk.kid !== kid) throw new Error(`signing key ${kid} in token "${s.token}" does not match its public key (${publicJwk.kid})`);
      // The pair is matched by label only: one signature proves the private key is the public key's.
      const probe = Buffer.from(`arbiter signing key check ${kid}`);
      if (!(await verifyEd25519(signWith(key, probe), probe, publicJwk))) throw new Error(`the private key labelled ${kid} in token "${s.token}" does not sign for its public key`);
      return {
        keyId: kid,
        publicJwk,
        // async, but with no await inside: each attempt runs start to end before anything else.
        sign: async (message) => {
          try {
            return signWith(key, message);
          } catch (err) {
            if (closed || !sessionLost(pk, err)) throw err;
          }
          // One new session, found and logged in as at start, then one more try.
          try {
            lib.C_CloseSession(session);
          } catch { /* already gone */ }
          session = openSession(pk, lib, s);
          key = privateKeyOf(kid);
          return signWith(key, message);
        },
      };
    },

    close() {
      if (closed) return Promise.resolve();
      closed = true;
      try {
        lib.C_CloseSession(session);
      } finally {
        releaseModule(s.module);
      }
      return Promise.resolve();
    },
  };
}
