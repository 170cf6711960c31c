// The whole stack with verdicts signed by a PKCS#11 token (ARBITER_SIGNER=pkcs11, a SoftHSM2 token
// of this file's own): a scored scenario's verdict names the token's key and verifies with
// `arbiter verify` in the deployment and with the browser verifier under the API's JWKS.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openPkcs11KeyStore } from '../../infra/pkcs11-keys.ts';
import { resultsDir, RESULTS } from '../../infra/results.ts';
import type { PublicJwk } from '../../infra/keys.ts';
import type { ScenarioState } from '../../contract/scenario.ts';
import { verifyVerdict } from '../../api/verifier/verify.ts';
import { REPO, waitFor } from '../support/harness.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { createTestToken, type TestToken } from '../support/softhsm.ts';

const run = promisify(execFile);

describe('the stack signing with a PKCS#11 token', () => {
  let token: TestToken;
  let tokenKey: PublicJwk;
  let stack: Stack;

  before(async () => {
    token = createTestToken();
    token.useToken();
    // The operator's step before the first start: a key in the token (`arbiter keys generate`).
    const store = openPkcs11KeyStore({ module: token.module, token: token.label, pin: token.pin });
    try {
      tokenKey = await store.generate();
    } finally {
      await store.close();
    }
    stack = await startStack({ env: token.env });
  });
  after(async () => {
    await stack?.stop();
    token?.cleanup();
  });

  it('a scored scenario\'s verdict is signed by the token\'s key and verifies with `arbiter verify` and the browser verifier', { timeout: 240_000 }, async () => {
    const satToken = await stack.sat(await stack.et());
    const spawned = await stack.call('POST', '/api/spawn', satToken, {});
    assert.equal(spawned.status, 202, JSON.stringify(spawned.json));
    const id = spawned.json!.scenarioId as string;
    await waitFor('running', async () => ((await stack.call('GET', `/api/scenarios/${id}`, satToken)).json?.status === 'running' ? true : undefined));
    const done = await stack.call('POST', `/api/scenarios/${id}/complete`, await stack.completionToken(id), { outcome: 'success', submission: { answer: 'hello' } });
    assert.equal(done.status, 202, JSON.stringify(done.json));
    const scored = await waitFor('scored', async () => {
      const r = await stack.call('GET', `/api/scenarios/${id}`, satToken);
      if (r.json?.status === 'failed') throw new Error(`scenario failed: ${String(r.json.reason)}`);
      return r.json?.status === 'scored' ? (r.json as unknown as ScenarioState) : undefined;
    }, 120_000);
    assert.deepEqual(scored.score, { score: 2, maxScore: 2, passed: true });

    const verdict = await stack.call('GET', `/api/scenarios/${id}/verdict`, satToken);
    assert.equal(verdict.status, 200, JSON.stringify(verdict.json));
    assert.equal(verdict.json!.keyId, tokenKey.kid, 'signed by the token\'s key');
    // The deployment's key store holds only the token key's public half; the private key file is the test config's unused one.
    assert.ok(readdirSync(stack.t.config.keysDir).includes(`${tokenKey.kid}.pub.json`));

    // `arbiter verify` as in any deployment: its key store configured, no token, no PIN.
    const results = resultsDir(stack.t.config.storageDir, id);
    const { stdout } = await run(process.execPath, [join(REPO, 'bin', 'arbiter.js'), 'verify', results], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ARBITER_ENV_FILE: '/nonexistent', ARBITER_KEYS_DIR: stack.t.config.keysDir },
    });
    assert.match(stdout, new RegExp(`\nverified: ${id} scored score 2/2 signed by ${tokenKey.kid}`));

    // The browser verifier, given the verdict and the JWKS the API publishes.
    const jwks = await (await fetch(`${stack.base}/.well-known/arbiter/keys`)).text();
    const report = verifyVerdict(readFileSync(join(results, RESULTS.envelope), 'utf8'), jwks);
    assert.ok(report.valid, JSON.stringify(report.failed));
    assert.equal(report.keyId, tokenKey.kid);

    // `arbiter keys rotate` as an operator runs it: a new key pair in the token, the rotation in
    // the operator log anchored through this stack's Temporal; the verdict signed before still verifies.
    const rotated = await run(process.execPath, [join(REPO, 'bin', 'arbiter.js'), '--json', 'keys', 'rotate'], {
      env: { ...process.env, ...token.env, ARBITER_ENV_FILE: '/nonexistent', ARBITER_KEYS_DIR: stack.t.config.keysDir, ARBITER_STORAGE_DIR: stack.t.config.storageDir, TEMPORAL_ADDRESS: stack.env.address },
    });
    const second = JSON.parse(rotated.stdout) as PublicJwk;
    assert.notEqual(second.kid, tokenKey.kid);
    const store = openPkcs11KeyStore({ module: token.module, token: token.label, pin: token.pin });
    try {
      assert.equal((await store.signer()).keyId, second.kid, 'the new key is current in the token');
      assert.deepEqual((await store.list()).map((k) => k.kid).sort(), [tokenKey.kid, second.kid].sort(), 'the token keeps the old key');
    } finally {
      await store.close();
    }
    const after = await run(process.execPath, [join(REPO, 'bin', 'arbiter.js'), 'verify', results], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ARBITER_ENV_FILE: '/nonexistent', ARBITER_KEYS_DIR: stack.t.config.keysDir },
    });
    assert.match(after.stdout, new RegExp(`\nverified: ${id} scored score 2/2 signed by ${tokenKey.kid}`));
    const published = await (await fetch(`${stack.base}/.well-known/arbiter/keys`)).json() as { keys: PublicJwk[] };
    assert.ok(published.keys.some((k) => k.kid === second.kid) && published.keys.some((k) => k.kid === tokenKey.kid), 'the JWKS lists the new and the retired key');
  });
});
