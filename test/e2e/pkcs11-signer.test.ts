// The PKCS#11 verdict signer (infra/pkcs11-keys.ts) on a real SoftHSM2 token of this file's own:
// keys made by `arbiter keys generate|rotate` live in the token and never leave it, verdicts it
// signs verify offline (OpenSSL, noble, the Node and the browser verifier) under the published
// JWKS, old ones too after a rotation; and the real main worker entry stops at start, naming the
// variable, when the module, the token or the PIN is wrong.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createPublicKey, verify as opensslVerify } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createRequire } from 'node:module';
import * as ed from '@noble/ed25519';
import type { Handle, PKCS11 } from 'pkcs11js';
import { loadConfig, type Config } from '../../infra/config.ts';
import { verifyEd25519, type Jwks, type KeyStore, type PublicJwk } from '../../infra/keys.ts';
import { openKeyStore, publishKeys } from '../../infra/signer.ts';
import { buildStatement, signStatement, verifyEnvelope, type DsseEnvelope } from '../../infra/verdict.ts';
import { verifyVerdict } from '../../api/verifier/verify.ts';
import { pae } from '../../lib/verdict-format.ts';
import { REPO } from '../support/harness.ts';
import { createTestToken, type TestToken } from '../support/softhsm.ts';
import { countingListener, type CountingListener } from '../support/counting-listener.ts';

const run = promisify(execFile);
const pk = createRequire(import.meta.url)('pkcs11js') as typeof import('pkcs11js');

let token: TestToken;
let dir: string;
let config: Config;
let store: KeyStore;

before(async () => {
  token = createTestToken();
  token.useToken();
  dir = mkdtempSync(join(tmpdir(), 'arbiter-pkcs11-'));
  config = loadConfig({ ...token.env, ARBITER_KEYS_DIR: join(dir, 'keys'), ARBITER_STORAGE_DIR: join(dir, 'storage') });
  store = await openKeyStore(config);
});

after(async () => {
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  token?.cleanup();
});

/** `arbiter keys <verb>` as an operator runs it, configured for the test's token. */
async function keysCommand(verb: 'generate'): Promise<PublicJwk> {
  const { stdout } = await run(process.execPath, [join(REPO, 'bin', 'arbiter.js'), '--json', 'keys', verb], {
    env: { ...process.env, ...token.env, ARBITER_ENV_FILE: '/nonexistent', ARBITER_KEYS_DIR: config.keysDir, ARBITER_STORAGE_DIR: config.storageDir },
  });
  return JSON.parse(stdout) as PublicJwk;
}

const publishedJwks = () => JSON.parse(readFileSync(join(config.storageDir, 'keys', 'jwks.json'), 'utf8')) as Jwks;

let seq = 0;
async function signedVerdict(): Promise<DsseEnvelope> {
  const signer = await store.signer();
  seq += 1;
  return signStatement(buildStatement({
    scenarioId: `scn-0000hsm${seq}-1111`, subject: 'alice', tenant: 'acme', plan: 'free', track: 'intro',
    template: { id: 'hello', version: '1', digest: 'a'.repeat(64) }, policy: { sha256: 'b'.repeat(64), allow: true },
    outcome: 'success', status: 'scored', score: { score: 2, maxScore: 2, passed: true }, auditHead: 'c'.repeat(64),
    issuedAt: new Date().toISOString(), keyId: signer.keyId,
  }, { score: 'd'.repeat(64), manifest: 'e'.repeat(64) }), signer);
}

/** A session of this test's own on the token, next to the store's (as another application would open one). */
function rawSession(): { lib: PKCS11; slot: Handle; session: Handle; close(): void } {
  const lib = new pk.PKCS11();
  lib.load(token.module);
  try {
    lib.C_Initialize();
  } catch (err) {
    if ((err as { code?: number }).code !== pk.CKR_CRYPTOKI_ALREADY_INITIALIZED) throw err;
  }
  const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === token.label);
  assert.ok(slot, `token ${token.label} is listed`);
  const session = lib.C_OpenSession(slot, pk.CKF_SERIAL_SESSION);
  try {
    lib.C_Login(session, pk.CKU_USER, token.pin);
  } catch (err) {
    if ((err as { code?: number }).code !== pk.CKR_USER_ALREADY_LOGGED_IN) throw err;
  }
  return { lib, slot, session, close: () => lib.C_CloseSession(session) };
}

describe('PKCS#11 signer on a SoftHSM2 token', () => {
  let first: PublicJwk;
  let firstVerdict: DsseEnvelope;

  it('`arbiter keys generate` makes the key in the token: its private half is on the token, sensitive, never extractable, labelled with its kid, and CKA_VALUE is refused', async () => {
    first = await keysCommand('generate');

    assert.equal((await store.signer()).keyId, first.kid);
    const raw = rawSession();
    try {
      raw.lib.C_FindObjectsInit(raw.session, [{ type: pk.CKA_CLASS, value: pk.CKO_PRIVATE_KEY }, { type: pk.CKA_LABEL, value: first.kid }]);
      const found = raw.lib.C_FindObjects(raw.session, 10);
      raw.lib.C_FindObjectsFinal(raw.session);
      assert.equal(found.length, 1, 'one private key labelled with the kid');
      const attrs = raw.lib.C_GetAttributeValue(raw.session, found[0]!, [
        { type: pk.CKA_TOKEN }, { type: pk.CKA_SENSITIVE }, { type: pk.CKA_EXTRACTABLE }, { type: pk.CKA_ALWAYS_SENSITIVE }, { type: pk.CKA_NEVER_EXTRACTABLE }, { type: pk.CKA_ID },
      ]).map((a) => a.value);
      assert.deepEqual(attrs.slice(0, 5).map((v) => v[0]), [1, 1, 0, 1, 1], 'CKA_TOKEN, CKA_SENSITIVE, !CKA_EXTRACTABLE, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE');
      assert.equal(attrs[5]!.toString(), first.kid, 'CKA_ID is the kid');
      assert.throws(() => raw.lib.C_GetAttributeValue(raw.session, found[0]!, [{ type: pk.CKA_VALUE }]),
        (err: { code?: number; message: string }) => err.code === pk.CKR_ATTRIBUTE_SENSITIVE, 'the token refuses to give out the private key');
    } finally {
      raw.close();
    }
    // Only the public half is outside the token: recorded in the keys directory and published.
    assert.deepEqual(readdirSync(config.keysDir), [`${first.kid}.pub.json`]);
    assert.deepEqual(publishedJwks().keys.map((k) => k.kid), [first.kid]);
    // A second generate keeps the key.
    await keysCommand('generate');
    assert.equal((await store.signer()).keyId, first.kid);
  });

  it('a verdict signed through the token verifies offline: OpenSSL and noble on the raw signature, the Node and the browser verifier under the published JWKS', async () => {
    firstVerdict = await signedVerdict();
    const sig = Buffer.from(firstVerdict.signatures[0]!.sig, 'base64');
    const message = pae(firstVerdict.payloadType, Buffer.from(firstVerdict.payload, 'base64'));
    const jwk = publishedJwks().keys[0]!;

    assert.equal(opensslVerify(null, message, createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' }), sig), true, 'OpenSSL');
    assert.equal(await ed.verifyAsync(sig, message, Buffer.from(jwk.x, 'base64url'), { zip215: false }), true, 'noble, strict RFC 8032');
    assert.equal(await verifyEd25519(sig, message, jwk), true, 'infra/keys.ts verifyEd25519');
    const node = await verifyEnvelope(firstVerdict, publishedJwks());
    assert.ok(node.ok && node.keyId === first.kid, JSON.stringify(node));
    const browser = verifyVerdict(JSON.stringify(firstVerdict), JSON.stringify(publishedJwks()));
    assert.ok(browser.valid, JSON.stringify(browser.failed));
    assert.equal(browser.keyId, first.kid);

    const flipped = Buffer.from(sig);
    flipped[10] = flipped[10]! ^ 1;
    assert.equal(await verifyEd25519(flipped, message, jwk), false, 'a flipped signature bit fails');
  });

  // `arbiter keys rotate` itself needs Temporal (it anchors the operator log): the stack test runs it.
  it('a rotation makes a new key pair in the token current; verdicts signed before and after both verify under the published JWKS', async () => {
    const second = await store.generate();
    await publishKeys(store, config);
    assert.notEqual(second.kid, first.kid);
    assert.equal((await store.signer()).keyId, second.kid, 'the new key is current');
    assert.deepEqual((await store.list()).map((k) => k.kid).sort(), [first.kid, second.kid].sort(), 'the token keeps the old key');

    const secondVerdict = await signedVerdict();
    const jwks = publishedJwks();
    assert.deepEqual(jwks.keys.map((k) => k.kid).sort(), [first.kid, second.kid].sort(), 'the JWKS keeps the retired key');
    for (const [envelope, kid] of [[firstVerdict, first.kid], [secondVerdict, second.kid]] as const) {
      const node = await verifyEnvelope(envelope, jwks);
      assert.ok(node.ok && node.keyId === kid, `${kid}: ${JSON.stringify(node)}`);
      const browser = verifyVerdict(JSON.stringify(envelope), JSON.stringify(jwks));
      assert.ok(browser.valid && browser.keyId === kid, JSON.stringify(browser.failed));
    }
  });

  it('when every session of the token is closed under it (as a restarted HSM would), the signer opens a new one and signing goes on', async () => {
    const signer = await store.signer();
    const raw = rawSession();
    raw.lib.C_CloseAllSessions(raw.slot);

    const message = new TextEncoder().encode('after the sessions were dropped');
    const sig = await signer.sign(message);

    assert.equal(await verifyEd25519(sig, message, signer.publicJwk), true);
  });
});

describe('main worker start with bad token settings', () => {
  // Stands in for Temporal.
  let listener: CountingListener;
  before(async () => { listener = await countingListener(); });
  after(async () => { await listener.close(); });

  function start(overrides: Record<string, string | undefined>) {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH, HOME: process.env.HOME, ARBITER_MODE: 'production',
      TEMPORAL_ADDRESS: listener.address, ARBITER_STORAGE_DIR: config.storageDir, ARBITER_KEYS_DIR: config.keysDir,
      WORKER_HTTP_PORT: 'off', TEMPORAL_METRICS_ADDRESS: 'off', ARBITER_POOLS: 'none',
      ...token.env, ...overrides,
    };
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'workers', 'main.ts')], { cwd: REPO, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
    return { child, exited };
  }

  for (const [what, overrides, message] of [
    ['a wrong PIN', { ARBITER_PKCS11_PIN: 'not-the-pin' }, /"msg":"ARBITER_PKCS11_PIN: token \\"[^"\\]+\\" refused the PIN \(CKR_PIN_INCORRECT\)"/],
    ['no PIN', { ARBITER_PKCS11_PIN: undefined }, /"msg":"ARBITER_PKCS11_PIN is required when ARBITER_SIGNER=pkcs11/],
    ['a token label no token has', { ARBITER_PKCS11_TOKEN: 'no-such-token' }, /"msg":"ARBITER_PKCS11_TOKEN: no token labelled \\"no-such-token\\" in /],
    ['a module that is not there', { ARBITER_PKCS11_MODULE: '/nonexistent/libpkcs11.so' }, /"msg":"ARBITER_PKCS11_MODULE: cannot load the PKCS#11 library \/nonexistent\/libpkcs11.so/],
  ] as const) {
    it(`when workers/main.ts starts with ${what}, it exits 2 naming the variable on stderr and connects nowhere`, { timeout: 60_000 }, async () => {
      const before = listener.connections();

      const { code, stderr } = await start(overrides).exited;

      assert.equal(code, 2, stderr);
      assert.match(stderr, message);
      assert.ok(!stderr.includes(token.pin), 'the PIN is never printed');
      assert.equal(listener.connections(), before, 'a worker that cannot sign must not connect to Temporal');
    });
  }

  // Without this, "connects nowhere" above could hold only because nothing ever connects here.
  it('with the right module, token and PIN the same worker gets past the token and connects', { timeout: 60_000 }, async () => {
    assert.ok(existsSync(join(config.keysDir, `${(await store.signer()).keyId}.pub.json`)));
    const connected = listener.nextConnection();
    const { child, exited } = start({});
    try {
      const first = await Promise.race([connected.then(() => 'connected' as const), exited]);
      assert.equal(first, 'connected', typeof first === 'string' ? first : first.stderr);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  });
});
