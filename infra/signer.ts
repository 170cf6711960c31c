// Which key store signs verdicts, as configuration says (ARBITER_SIGNER): the keys directory
// (default) or a PKCS#11 token. Either way the keys directory lists every public key, and
// storage/keys/jwks.json publishes them, so verification never needs the token.
import type { Config } from './config.ts';
import { fileKeyStore, publishJwks, recordPublicKeys, type Jwks, type KeyStore } from './keys.ts';
import type { ArtifactStore } from './artifact-store.ts';

/** Opens the configured key store; a token that cannot be used is a ConfigError naming the variable. */
export async function openKeyStore(config: Pick<Config, 'signer' | 'keysDir'>): Promise<KeyStore> {
  if (config.signer.kind === 'file') return fileKeyStore(config.keysDir);
  // Loaded only here: the native binding is needed by processes configured for a token alone.
  const { openPkcs11KeyStore } = await import('./pkcs11-keys.ts');
  return openPkcs11KeyStore(config.signer);
}

/**
 * Records the public half of every key the store holds in the keys directory (a token's keys are
 * recorded once; key files are there already), then publishes the directory's JWKS. Keys recorded
 * earlier stay: a token key that is gone still verifies the verdicts it signed. With a shared
 * artifact store the JWKS goes there too, for the API and `arbiter results download --jwks`.
 */
export async function publishKeys(store: KeyStore, config: Pick<Config, 'signer' | 'keysDir' | 'storageDir'>, artifacts?: ArtifactStore): Promise<Jwks> {
  if (config.signer.kind !== 'file') recordPublicKeys(config.keysDir, await store.list(), store.description);
  return publishJwks(config.keysDir, config.storageDir, artifacts);
}
