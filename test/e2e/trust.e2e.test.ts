// The spawn trust chain on the real stack: who may spawn what, how often and how many at once,
// with every refusal in the contract's shape and no workflow started by a refused request.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { generateKeyPair, SignJWT } from 'jose';
import { buildApp } from '../../api/app.ts';
import { loadConfig, secretKeyId } from '../../infra/config.ts';
import { loadPlans } from '../../infra/plans.ts';
import { DEFAULT_TEMPLATES_DIR } from '../../infra/template.ts';
import { mintToken } from '../../infra/tokens.ts';
import { quotaWorkflowId } from '../../lib/entity-ids.ts';
import { quotaQuery } from '../../contract/quota.ts';
import type { ScenarioState } from '../../contract/scenario.ts';
import { containersOf, docker, REPO, waitFor } from '../support/harness.ts';
import { startStack, type Response, type Stack } from '../support/stack.ts';

const run = promisify(execFile);

describe('spawn trust chain', () => {
  let stack: Stack;
  before(async () => { stack = await startStack({ quotaTiming: { reapIntervalSeconds: 2, startGraceSeconds: 5 } }); });
  after(async () => { await stack?.stop(); });

  const satRing = () => stack.t.config.secrets.SAT_HMAC_SECRET!;
  const satClaims = (over: Record<string, unknown> = {}) => ({
    sub: 'alice', tenant: 'acme', plan: 'free', template: 'hello', template_version: '1', track: 'intro', retention_days: 7, jti: randomUUID(), ...over,
  });
  /** A SAT built by hand, so each registered claim and header can be got wrong on purpose. */
  async function craft(o: { claims?: Record<string, unknown>; header?: Record<string, unknown>; iss?: string | null; aud?: string | null; exp?: number | null; nbf?: number; key?: Uint8Array } = {}) {
    const now = Math.floor(Date.now() / 1000);
    const jwt = new SignJWT(o.claims ?? satClaims()).setProtectedHeader({ alg: 'HS256', typ: 'arbiter-sat+jwt', kid: secretKeyId(satRing().current), ...o.header }).setIssuedAt(now).setNotBefore(o.nbf ?? now);
    if (o.iss !== null) jwt.setIssuer(o.iss ?? 'arbiter');
    if (o.aud !== null) jwt.setAudience(o.aud ?? 'arbiter:spawn');
    if (o.exp !== null) jwt.setExpirationTime(o.exp ?? now + 300);
    return jwt.sign(o.key ?? satRing().current);
  }
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

  function assertRefused(r: Response, statuses: number[]) {
    assert.ok(statuses.includes(r.status), `expected ${statuses.join('/')}, got ${r.status} ${JSON.stringify(r.json)}`);
    const error = r.json?.error as { code?: unknown; message?: unknown } | undefined;
    assert.equal(typeof error?.code, 'string');
    assert.equal(typeof error?.message, 'string');
    assert.deepEqual(Object.keys(r.json ?? {}), ['error']);
  }

  describe('token matrix: every bad token answers 401/403 and starts no workflow', () => {
    const now = () => Math.floor(Date.now() / 1000);
    const cases: Array<[string, () => Promise<Response>, number[]]> = [
      ['an expired SAT', async () => stack.call('POST', '/api/spawn', (await mintToken('sat', satClaims(), satRing(), { ttlSeconds: 60, now: new Date(Date.now() - 600_000) })).token, {}), [401]],
      ['a SAT not yet valid', async () => stack.call('POST', '/api/spawn', await craft({ nbf: now() + 3600 }), {}), [401]],
      ['a SAT with the wrong audience', async () => stack.call('POST', '/api/spawn', await craft({ aud: 'arbiter:entitlement' }), {}), [401]],
      ['a SAT with the wrong issuer', async () => stack.call('POST', '/api/spawn', await craft({ iss: 'arbiter-billing' }), {}), [401]],
      ['a SAT with a plain JWT typ', async () => stack.call('POST', '/api/spawn', await craft({ header: { typ: 'JWT' } }), {}), [401]],
      ['a SAT without exp', async () => stack.call('POST', '/api/spawn', await craft({ exp: null }), {}), [401]],
      ['a SAT without jti', async () => {
        const { jti: _drop, ...claims } = satClaims();
        return stack.call('POST', '/api/spawn', await craft({ claims }), {});
      }, [401]],
      ['a SAT living longer than 10 minutes', async () => stack.call('POST', '/api/spawn', await craft({ exp: now() + 3600 }), {}), [401]],
      ['a SAT already valid but issued an hour in the future', async () => {
        const jwt = new SignJWT({ ...satClaims(), iss: 'arbiter', aud: 'arbiter:spawn', iat: now() + 3600, nbf: now(), exp: now() + 3900 })
          .setProtectedHeader({ alg: 'HS256', typ: 'arbiter-sat+jwt', kid: secretKeyId(satRing().current) });
        return stack.call('POST', '/api/spawn', await jwt.sign(satRing().current), {});
      }, [401]],
      ['alg: none', async () => stack.call('POST', '/api/spawn', `${b64({ alg: 'none', typ: 'arbiter-sat+jwt', kid: secretKeyId(satRing().current) })}.${b64({ ...satClaims(), iss: 'arbiter', aud: 'arbiter:spawn', iat: now(), nbf: now(), exp: now() + 300 })}.`, {}), [401]],
      ['an asymmetric (EdDSA) token where HS256 is expected', async () => {
        const { privateKey } = await generateKeyPair('EdDSA');
        const token = await new SignJWT(satClaims()).setProtectedHeader({ alg: 'EdDSA', typ: 'arbiter-sat+jwt', kid: secretKeyId(satRing().current) })
          .setIssuer('arbiter').setAudience('arbiter:spawn').setIssuedAt().setNotBefore(now()).setExpirationTime(now() + 300).sign(privateKey);
        return stack.call('POST', '/api/spawn', token, {});
      }, [401]],
      ['an unknown kid', async () => stack.call('POST', '/api/spawn', await craft({ header: { kid: 'hs-000000000000' } }), {}), [401]],
      ['a tampered payload', async () => {
        const [h, , s] = (await craft()).split('.');
        return stack.call('POST', '/api/spawn', `${h}.${b64({ ...satClaims({ plan: 'enterprise' }), iss: 'arbiter', aud: 'arbiter:spawn', iat: now(), nbf: now(), exp: now() + 300 })}.${s}`, {});
      }, [401]],
      ['a SAT signed with another secret', async () => stack.call('POST', '/api/spawn', await craft({ key: Buffer.alloc(32, 9) }), {}), [401]],
      ['an ET used as a SAT', async () => stack.call('POST', '/api/spawn', await stack.et(), {}), [401, 403]],
      ['a SAT used as an ET', async () => stack.call('POST', '/api/sat', await stack.satFor({}), { template: 'hello', track: 'intro' }), [401, 403]],
      ['an operator token used as a SAT', async () => stack.call('POST', '/api/spawn', await stack.operator(), {}), [401, 403]],
    ];
    for (const [what, send, statuses] of cases) {
      it(`${what} → ${statuses.join('/')}`, async () => {
        const before = await stack.workflowCount();
        assertRefused(await send(), statuses);
        assert.equal(await stack.workflowCount(), before, 'no scenario workflow was started');
      });
    }

    it('a SAT of another subject, or of another tenant, cannot read the scenario and cannot tell it exists (404)', async () => {
      const owner = await stack.satFor({ sub: 'owner-1' });
      const id = (await stack.call('POST', '/api/spawn', owner, {})).json!.scenarioId as string;
      assertRefused(await stack.call('GET', `/api/scenarios/${id}`, await stack.satFor({ sub: 'someone-else' })), [404]);
      assertRefused(await stack.call('GET', `/api/scenarios/${id}`, await stack.satFor({ sub: 'owner-1', tenant: 'other-tenant' })), [404]);
      assert.equal((await stack.call('GET', `/api/scenarios/${id}`, owner)).status, 200);
      assert.equal((await stack.call('GET', `/api/scenarios/${id}`, await stack.operator())).status, 200);
    });
  });

  it('when one SAT is sent 50 times at once, exactly one spawn is accepted and one workflow exists; 49 get 409', async () => {
    const sat = await stack.satFor({ sub: 'replayer' });
    const before = await stack.workflowCount();
    const answers = await Promise.all(Array.from({ length: 50 }, () => stack.call('POST', '/api/spawn', sat, {})));
    const statuses = answers.map((a) => a.status).sort();
    assert.equal(statuses.filter((s) => s === 202).length, 1, JSON.stringify(statuses));
    assert.equal(statuses.filter((s) => s === 409).length, 49, JSON.stringify(statuses));
    for (const a of answers.filter((x) => x.status === 409)) assert.equal((a.json!.error as { code: string }).code, 'sat_used');
    assert.equal(await stack.workflowCount(), before + 1);
    // The replays did not free the one real scenario's lease.
    const quota = await stack.env.client.workflow.getHandle(quotaWorkflowId('acme', 'replayer')).query(quotaQuery);
    assert.equal(Object.keys(quota.leases).length, 1);
  });

  it('with a plan of 2 at once, 50 concurrent spawns give exactly 2 accepted and 48 answered 429 with Retry-After; after both end two more are accepted', async () => {
    const subject = 'quota-subject';
    const sats = await Promise.all(Array.from({ length: 50 }, () => stack.satFor({ sub: subject })));
    const answers = await Promise.all(sats.map((s) => stack.call('POST', '/api/spawn', s, {})));
    const accepted = answers.filter((a) => a.status === 202);
    const refused = answers.filter((a) => a.status === 429);
    assert.equal(accepted.length, 2, JSON.stringify(answers.map((a) => a.status)));
    assert.equal(refused.length, 48);
    for (const r of refused) {
      assert.equal((r.json!.error as { code: string }).code, 'quota_exceeded');
      assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
    }

    // One ends by completion, the other is terminated from outside (as from the Temporal UI).
    const [first, second] = accepted.map((a) => a.json!.scenarioId as string) as [string, string];
    const sat0 = sats[answers.indexOf(accepted[0]!)]!;
    await waitFor('first running', async () => ((await stack.call('GET', `/api/scenarios/${first}`, sat0)).json?.status === 'running' ? true : undefined));
    const op = await stack.operator();
    assert.equal((await stack.call('POST', `/api/scenarios/${first}/complete`, op, { outcome: 'success', submission: { answer: 'hello' } })).status, 202);
    await waitFor('second running', async () => ((await containersOf(second)).length === 1 ? true : undefined));
    await stack.env.client.workflow.getHandle(second).terminate('operator terminated it from the UI');
    await waitFor('first scored', async () => ((await stack.call('GET', `/api/scenarios/${first}`, op)).json?.status === 'scored' ? true : undefined), 90_000);

    // The terminated holder never released its lease: the quota entity notices and frees it.
    await waitFor('both leases freed', async () => {
      const q = await stack.env.client.workflow.getHandle(quotaWorkflowId('acme', subject)).query(quotaQuery);
      return Object.keys(q.leases).length === 0 ? true : undefined;
    }, 30_000);
    const more = await Promise.all([stack.satFor({ sub: subject }), stack.satFor({ sub: subject })].map(async (s) => stack.call('POST', '/api/spawn', await s, {})));
    assert.deepEqual(more.map((m) => m.status), [202, 202]);
    // A terminated workflow cannot tear down its container: that is the reconciler's job (issue 4);
    // here the test removes it so the stack stops clean.
    for (const c of await containersOf(second)) await docker.getContainer(c.Id).remove({ force: true });
  });

  it('when a tenant is downgraded after a SAT was minted, the spawn runs under the new plan', async () => {
    const tenant = 'globex';
    const sat = await stack.sat(await stack.et('wile', tenant, 'pro'));
    const claims = JSON.parse(Buffer.from(sat.split('.')[1]!, 'base64url').toString()) as { plan: string };
    assert.equal(claims.plan, 'pro');

    const billing = stack.t.config.secrets.BILLING_HMAC_SECRET;
    assert.ok(billing, 'the test stack configures a billing secret');
    const receipt = (await mintToken('receipt', { sub: 'rcpt-downgrade-1', tenant, plan: 'free' }, billing, { ttlSeconds: 3600, jti: 'rcpt-downgrade-1' })).token;
    const accepted = await stack.call('POST', '/api/billing/receipts', undefined, { receipt });
    assert.equal(accepted.status, 201, JSON.stringify(accepted.json));
    assert.deepEqual({ plan: accepted.json!.plan, source: accepted.json!.source }, { plan: 'free', source: 'receipt' });

    const spawned = await stack.call('POST', '/api/spawn', sat, {});
    assert.equal(spawned.status, 202);
    const state = await waitFor('running', async () => {
      const r = await stack.call('GET', `/api/scenarios/${spawned.json!.scenarioId as string}`, sat);
      return r.json?.status === 'running' ? (r.json as unknown as ScenarioState) : undefined;
    });
    assert.equal(state.plan, 'free', 'the scenario runs under the plan the tenant has now');
    assert.equal(state.ttlSeconds, Math.min(loadPlans().free!.limits.ttlSeconds, 1800));

    // The billing log recorded the receipt and verifies.
    const { stdout } = await run(process.execPath, [join(REPO, 'bin', 'arbiter.js'), 'billing', 'verify', '--json'], {
      env: { ...process.env, ARBITER_ENV_FILE: '/nonexistent', ARBITER_STORAGE_DIR: stack.t.config.storageDir, TEMPORAL_ADDRESS: stack.env.address },
    });
    assert.equal((JSON.parse(stdout) as { ok: boolean; length: number }).length, 1);
  });

  it('a lease is released when the policy denies the spawn and when the scenario is cancelled', async () => {
    const subject = 'releaser';
    const leases = async () => Object.keys((await stack.env.client.workflow.getHandle(quotaWorkflowId('acme', subject)).query(quotaQuery)).leases).length;
    const denied = await stack.call('POST', '/api/spawn', await stack.satFor({ sub: subject, track: 'web' }), {});
    assert.equal(denied.status, 403);
    await waitFor('lease released after deny', async () => ((await leases()) === 0 ? true : undefined));

    const sat = await stack.satFor({ sub: subject });
    const id = (await stack.call('POST', '/api/spawn', sat, {})).json!.scenarioId as string;
    assert.equal(await leases(), 1);
    assert.equal((await stack.call('POST', `/api/scenarios/${id}/cancel`, sat)).status, 202);
    await waitFor('lease released after cancel', async () => ((await leases()) === 0 ? true : undefined));
  });

  it('per-client HTTP rate limiting answers 429 in the contract shape, and never to health probes or metrics scrapes', async () => {
    const limited = await buildApp({ config: stack.t.config, temporal: stack.env.client, plans: loadPlans(), templatesDir: DEFAULT_TEMPLATES_DIR, checks: {}, httpRateLimitPerMinute: 3 });
    try {
      const answers = [];
      for (let i = 0; i < 5; i++) answers.push(await limited.inject({ method: 'GET', url: '/.well-known/arbiter/keys' }));
      const codes = answers.map((a) => a.statusCode);
      const last = answers[4]!;
      assert.deepEqual(codes, [200, 200, 200, 429, 429]);
      assert.equal(last.json<{ error: { code: string } }>().error.code, 'rate_limited');
      assert.match(String(last.headers['retry-after']), /^\d+$/);
      // The same client, already limited, in a burst of probes and scrapes (a load balancer, or
      // Prometheus, behind one address): every one is answered.
      const probes = await Promise.all(Array.from({ length: 30 }, (_, i) => limited.inject({ method: 'GET', url: ['/healthz', '/readyz', '/metrics'][i % 3]! })));
      assert.deepEqual([...new Set(probes.map((p) => p.statusCode))], [200], probes.map((p) => `${p.statusCode} ${p.body.slice(0, 80)}`).join('\n'));
      assert.equal((await limited.inject({ method: 'GET', url: '/.well-known/arbiter/keys' })).statusCode, 429, 'the API itself is still limited');
    } finally {
      await limited.close();
    }
  });

  it('when Temporal cannot be reached, spawn is refused with 503 and nothing is let through', async () => {
    const { Client, Connection } = await import('@temporalio/client');
    const unreachable = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 500 }) });
    const app = await buildApp({ config: stack.t.config, temporal: unreachable, plans: loadPlans(), templatesDir: DEFAULT_TEMPLATES_DIR, checks: {} });
    try {
      const r = await app.inject({ method: 'POST', url: '/api/spawn', headers: { authorization: `Bearer ${await stack.satFor({ sub: 'offline' })}` }, payload: {} });
      assert.equal(r.statusCode, 503);
      assert.equal(typeof r.json<{ error: { code: string } }>().error.code, 'string');
    } finally {
      await app.close();
      await unreachable.connection.close().catch(() => undefined);
    }
  });

  it('X-Plan is ignored outside dev mode, and honoured in dev mode only with its flag', async () => {
    const etToken = await stack.et('xp', 'xp-tenant', 'free');
    const viaHeader = await stack.call('POST', '/api/sat', etToken, { template: 'hello', track: 'intro' }, { headers: { 'x-plan': 'enterprise' } });
    assert.equal(viaHeader.status, 201);
    assert.equal(viaHeader.json!.plan, 'free');

    const devConfig = loadConfig({
      ARBITER_MODE: 'dev', ARBITER_DEV_ALLOW_X_PLAN: '1',
      ET_HMAC_SECRET: stack.t.config.secrets.ET_HMAC_SECRET!.current.toString(),
      SAT_HMAC_SECRET: stack.t.config.secrets.SAT_HMAC_SECRET!.current.toString(),
      OPERATOR_HMAC_SECRET: 'o'.repeat(32), COMPLETION_HMAC_SECRET: 'c'.repeat(32),
      ARBITER_STORAGE_DIR: stack.t.config.storageDir,
    }, ['ET_HMAC_SECRET', 'SAT_HMAC_SECRET', 'OPERATOR_HMAC_SECRET', 'COMPLETION_HMAC_SECRET']);
    assert.ok(devConfig.warnings.some((w) => w.includes('ARBITER_DEV_ALLOW_X_PLAN')));
    const devApp = await buildApp({ config: devConfig, temporal: stack.env.client, plans: loadPlans(), templatesDir: DEFAULT_TEMPLATES_DIR, checks: {} });
    try {
      const r = await devApp.inject({ method: 'POST', url: '/api/sat', headers: { authorization: `Bearer ${etToken}`, 'x-plan': 'enterprise' }, payload: { template: 'hello', track: 'intro' } });
      assert.equal(r.statusCode, 201);
      assert.equal(r.json<{ plan: string }>().plan, 'enterprise');
    } finally {
      await devApp.close();
    }
  });

  describe('startup guardrails stop the API with a message naming the variable', () => {
    const start = (env: Record<string, string>) =>
      run(process.execPath, ['--import', 'tsx', join(REPO, 'api', 'server.ts')], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 });
    const strong = 'x'.repeat(40);
    const secrets = { ET_HMAC_SECRET: strong, SAT_HMAC_SECRET: strong, OPERATOR_HMAC_SECRET: strong, COMPLETION_HMAC_SECRET: strong };
    const cases: Array<[string, Record<string, string>, RegExp]> = [
      ['a missing secret', { ARBITER_MODE: 'production', ...secrets, SAT_HMAC_SECRET: '' }, /SAT_HMAC_SECRET is required/],
      ['a short secret', { ARBITER_MODE: 'production', ...secrets, ET_HMAC_SECRET: 'short' }, /ET_HMAC_SECRET is too short/],
      ['a dev-only flag in production', { ARBITER_MODE: 'production', ...secrets, ARBITER_DEV_ALLOW_X_PLAN: '1' }, /ARBITER_DEV_ALLOW_X_PLAN is a dev-only flag/],
    ];
    for (const [what, env, message] of cases) {
      it(`${what}`, async () => {
        await assert.rejects(start(env), (err: { code: number; stdout: string; stderr: string }) => {
          assert.equal(err.code, 2);
          assert.match(err.stdout + err.stderr, message);
          return true;
        });
      });
    }
  });
});

