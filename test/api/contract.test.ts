// The HTTP contract cases that need no workflow, through app.inject with every service swapped
// for a fake (api/services/index.ts): no Temporal, no Docker, seconds instead of a stack. What a fake
// answers is arranged per case; every call to one is recorded, so a refused request can be shown
// to have reached none of them.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import fp from 'fastify-plugin';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../api/app.ts';
import { scenarioNotFound, type ScenarioService } from '../../api/services/scenarios.ts';
import { servicePlugin, type ServiceReplacements } from '../../api/services/index.ts';
import type { EntitlementService } from '../../api/services/entitlements.ts';
import type { QuotaService } from '../../api/services/quota.ts';
import type { RetentionService, RetentionView } from '../../api/services/retention.ts';
import type { SpawnService } from '../../api/services/spawn.ts';
import { MAX_BODY_DEPTH } from '../../api/plugins/json-body.ts';
import { loadPlans } from '../../infra/plans.ts';
import { DEFAULT_TEMPLATES_DIR } from '../../infra/template.ts';
import { accessRing, completionRing, mintToken, type ClaimsOf, type TokenKind } from '../../infra/tokens.ts';
import type { SecretRing } from '../../infra/config.ts';
import type { ScenarioState } from '../../contract/scenario.ts';
import { testConfig, type TestConfig } from '../support/harness.ts';

type Bearer = Exclude<TokenKind, 'receipt' | 'relay'>;
type Scenario = ScenarioState & { retention?: RetentionView };

/** Every call a fake service receives, as "service.method". */
const calls: string[] = [];

/** A fake service: only the methods a case reaches; each call is recorded before it answers. */
function fake<T>(name: string, methods: Partial<T>): T {
  const recorded: Record<string, unknown> = {};
  for (const [method, fn] of Object.entries(methods)) {
    recorded[method] = (...args: unknown[]) => {
      calls.push(`${name}.${method}`);
      return (fn as (...a: unknown[]) => unknown)(...args);
    };
  }
  return recorded as T;
}

const ALICE = { sub: 'alice', tenant: 'acme' };
const scenarioId = () => `scn-${randomUUID()}`;
function scenario(over: Partial<Scenario> = {}): Scenario {
  const now = new Date().toISOString();
  return {
    scenarioId: scenarioId(), status: 'running', subject: ALICE.sub, tenant: ALICE.tenant, template: 'hello', templateVersion: '1', track: 'intro', plan: 'free',
    createdAt: now, updatedAt: now, ...over,
  };
}

/** The scenarios the fake scenario service knows; any other id is answered as the real one answers it. */
const known = new Map<string, Scenario>();
const spawned: Array<{ sat: ClaimsOf<'sat'>; correlationId: string }> = [];

const fakes = {
  scenarios: fake<ScenarioService>('scenarios', {
    get: async (id: string) => {
      const s = known.get(id);
      if (!s) throw scenarioNotFound(id);
      return s;
    },
    complete: async (id: string) => ({ status: known.get(id)?.status ?? 'running' }),
    cancel: async () => undefined,
    verdict: () => { throw new Error('not arranged in this test'); },
  }),
  spawn: fake<SpawnService>('spawn', {
    spawn: async (sat, correlationId) => {
      spawned.push({ sat, correlationId });
      return { scenarioId: `scn-${sat.jti}`, status: 'pending', reasons: [] };
    },
  }),
  entitlements: fake<EntitlementService>('entitlements', {
    record: async (_tenant, grant) => ({ plan: grant.plan, source: grant.source, reference: grant.reference }),
    current: async () => undefined,
    logReceipt: async () => undefined,
  }),
  quota: fake<QuotaService>('quota', {}),
  retention: fake<RetentionService>('retention', {
    hold: async () => undefined,
    release: async () => undefined,
    sweep: async (dryRun) => ({ dryRun, deleted: [], held: [], kept: [] }),
  }),
};

const allFakes = (): ServiceReplacements => ({
  scenarios: servicePlugin('scenarios', fakes.scenarios),
  spawn: servicePlugin('spawn', fakes.spawn),
  entitlements: servicePlugin('entitlements', fakes.entitlements),
  quota: servicePlugin('quota', fakes.quota),
  retention: servicePlugin('retention', fakes.retention),
});

/** Each route that takes a token: what it takes, a kind it refuses, and a body it would accept. */
interface AuthRoute { method: 'GET' | 'POST' | 'PUT' | 'DELETE'; url: string; takes: Bearer[]; refuses: Bearer; body?: unknown }
const ID = scenarioId();
const AUTH_ROUTES: AuthRoute[] = [
  { method: 'POST', url: '/api/sat', takes: ['et'], refuses: 'sat', body: { template: 'hello', track: 'intro' } },
  { method: 'POST', url: '/api/spawn', takes: ['sat'], refuses: 'et', body: {} },
  { method: 'GET', url: `/api/scenarios/${ID}`, takes: ['sat', 'et', 'access', 'operator'], refuses: 'completion' },
  { method: 'POST', url: `/api/scenarios/${ID}/complete`, takes: ['completion', 'operator'], refuses: 'sat', body: { outcome: 'success', submission: {} } },
  { method: 'POST', url: `/api/scenarios/${ID}/cancel`, takes: ['sat', 'et', 'access', 'operator'], refuses: 'completion' },
  { method: 'GET', url: `/api/scenarios/${ID}/verdict`, takes: ['sat', 'et', 'access', 'operator'], refuses: 'completion' },
  { method: 'POST', url: `/api/scenarios/${ID}/exec`, takes: ['sat', 'access', 'operator'], refuses: 'et', body: { cmd: ['true'] } },
  { method: 'GET', url: `/api/scenarios/${ID}/files?path=/work/a`, takes: ['sat', 'access', 'operator'], refuses: 'completion' },
  { method: 'PUT', url: `/api/scenarios/${ID}/files?path=/work/a`, takes: ['sat', 'access', 'operator'], refuses: 'completion' },
  { method: 'POST', url: `/api/scenarios/${ID}/completion-token`, takes: ['operator'], refuses: 'sat' },
  { method: 'POST', url: `/api/scenarios/${ID}/hold`, takes: ['operator'], refuses: 'et', body: {} },
  { method: 'DELETE', url: `/api/scenarios/${ID}/hold`, takes: ['operator'], refuses: 'et', body: {} },
  { method: 'POST', url: '/api/retention/sweep', takes: ['operator'], refuses: 'sat', body: { dryRun: true } },
];

describe('HTTP contract without workflows (services swapped, app.inject)', () => {
  let t: TestConfig;
  let app: FastifyInstance;

  /** A valid token of the kind, for alice at acme (a completion token is for `forScenario`). */
  async function token(kind: Bearer, o: { ring?: SecretRing; now?: Date; forScenario?: string; sub?: string; tenant?: string } = {}): Promise<string> {
    const s = t.config.secrets;
    const ttl = { ttlSeconds: 300, ...(o.now ? { now: o.now } : {}) };
    const who = { sub: o.sub ?? ALICE.sub, tenant: o.tenant ?? ALICE.tenant };
    switch (kind) {
      case 'et': return (await mintToken('et', { ...who, plan: 'free' }, o.ring ?? s.ET_HMAC_SECRET!, ttl)).token;
      case 'sat': return (await mintToken('sat', {
        ...who, plan: 'free', template: 'hello', template_version: '1', track: 'intro', retention_days: 7, jti: randomUUID(),
      }, o.ring ?? s.SAT_HMAC_SECRET!, ttl)).token;
      case 'operator': return (await mintToken('operator', { sub: o.sub ?? 'ops', role: 'operator' }, o.ring ?? s.OPERATOR_HMAC_SECRET!, ttl)).token;
      case 'completion': {
        const id = o.forScenario ?? ID;
        return (await mintToken('completion', { sub: id }, completionRing(o.ring ?? s.COMPLETION_HMAC_SECRET!, id), ttl)).token;
      }
      case 'access': return (await mintToken('access', { ...who, scn: o.forScenario ?? ID }, accessRing(o.ring ?? s.SAT_HMAC_SECRET!), ttl)).token;
    }
  }

  /** A request through app.inject; every answer, refusals included, must carry X-Correlation-Id. */
  async function call(req: { method: InjectOptions['method']; url: string; bearer?: string; headers?: Record<string, string>; payload?: string | object }): Promise<LightMyRequestResponse> {
    const { bearer, headers, ...rest } = req;
    const res = await app.inject({ ...rest, headers: { ...headers, ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) } });
    assert.ok(res.headers['x-correlation-id'], `${String(req.method)} ${req.url} answered without X-Correlation-Id`);
    return res;
  }

  function assertError(res: LightMyRequestResponse, status: number, code?: string): void {
    assert.equal(res.statusCode, status, res.body);
    const body = res.json<{ error: { code: unknown; message: unknown } }>();
    assert.deepEqual(Object.keys(body), ['error'], 'an error answer has the one key "error"');
    assert.equal(typeof body.error.code, 'string');
    assert.equal(typeof body.error.message, 'string');
    if (code) assert.equal(body.error.code, code);
  }

  before(async () => {
    t = await testConfig();
    app = await buildApp({ config: t.config, plans: loadPlans(), templatesDir: DEFAULT_TEMPLATES_DIR, checks: {}, services: allFakes() });
  });
  after(async () => {
    await app?.close();
    t?.cleanup();
  });
  beforeEach(() => {
    calls.length = 0;
    spawned.length = 0;
    known.clear();
  });

  it('the token table covers every route the OpenAPI document says takes a token', async () => {
    const doc = (await call({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, Record<string, { security?: unknown[] }>> }>();
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).filter(([, op]) => (op.security ?? []).length > 0).map(([method]) => `${method.toUpperCase()} ${path}`));
    const tabled = AUTH_ROUTES.map((r) => `${r.method} ${r.url.replace(ID, '{id}').replace(/\?.*$/, '')}`);
    assert.deepEqual([...tabled].sort(), [...documented].sort());
  });

  describe('every route refuses a bad token with 401 and a valid one of another kind with 403, calling no service', () => {
    const otherSecret = (): SecretRing => ({ current: randomBytes(32), previous: [] });
    const cases: Array<[string, (r: AuthRoute) => Promise<string | undefined>, number, string]> = [
      ['no token', async () => undefined, 401, 'token_missing'],
      ['a token that is not a JWT', async () => 'garbage.not-a.jwt', 401, 'token_invalid'],
      ['a token signed with another secret', async (r) => token(r.takes[0]!, { ring: otherSecret() }), 401, 'token_invalid'],
      ['an expired token', async (r) => token(r.takes[0]!, { now: new Date(Date.now() - 3_600_000) }), 401, 'token_expired'],
      ['a valid token of a kind the route does not take', async (r) => token(r.refuses), 403, 'token_kind_forbidden'],
    ];
    for (const route of AUTH_ROUTES) {
      for (const [situation, bearer, status, code] of cases) {
        it(`${route.method} ${route.url.replace(ID, ':id')} with ${situation}: ${status}`, async () => {
          const b = await bearer(route);
          const res = await call({ method: route.method, url: route.url, ...(b ? { bearer: b } : {}), ...(route.body !== undefined ? { payload: route.body as object } : {}) });
          assertError(res, status, code);
          assert.deepEqual(calls, [], 'a refused request reaches no service');
        });
      }
    }
  });

  describe('bad bodies are refused with 400 and a code before any service is called', () => {
    const deep = (depth: number): string => '{"outcome":"success","submission":{"a":' + '['.repeat(depth) + ']'.repeat(depth) + '}}';
    const cases: Array<[string, string, Bearer, string, string]> = [
      ['malformed JSON', '/api/sat', 'et', '{"template":', 'malformed_json'],
      ['an unknown field', '/api/sat', 'et', JSON.stringify({ template: 'hello', track: 'intro', plan: 'enterprise' }), 'bad_request'],
      ['a field of the wrong type', '/api/sat', 'et', JSON.stringify({ template: 5, track: 'intro' }), 'bad_request'],
      ['a spawn body that is not empty', '/api/spawn', 'sat', JSON.stringify({ template: 'hello' }), 'bad_request'],
      [`a submission nested deeper than ${MAX_BODY_DEPTH} levels`, `/api/scenarios/${ID}/complete`, 'operator', deep(MAX_BODY_DEPTH + 8), 'body_too_deep'],
      ['a submission key longer than 128 characters', `/api/scenarios/${ID}/complete`, 'operator', JSON.stringify({ outcome: 'success', submission: { ['k'.repeat(129)]: 1 } }), 'bad_request'],
      ['an exec env name that is not a name, with a value that is not a string', `/api/scenarios/${ID}/exec`, 'operator', JSON.stringify({ cmd: ['true'], env: { 'x-y': {} } }), 'bad_request'],
      ['an exec env name that is not a name', `/api/scenarios/${ID}/exec`, 'operator', JSON.stringify({ cmd: ['true'], env: { 'x-y': '1' } }), 'bad_request'],
      ['a number JSON cannot represent (1e400)', `/api/scenarios/${ID}/complete`, 'operator', '{"outcome":"success","submission":{"n":1e400}}', 'number_not_representable'],
    ];
    for (const [situation, url, kind, raw, code] of cases) {
      it(`POST ${url.replace(ID, ':id')} with ${situation}: 400 ${code}`, async () => {
        const res = await call({ method: 'POST', url, bearer: await token(kind), headers: { 'content-type': 'application/json' }, payload: raw });
        assertError(res, 400, code);
        assert.deepEqual(calls, []);
      });
    }
  });

  describe('malformed ids and path parameters', () => {
    for (const [method, path] of [['GET', ''], ['POST', '/cancel'], ['GET', '/verdict'], ['POST', '/hold']] as const) {
      it(`${method} /api/scenarios/<malformed id>${path}: 400 bad_request, no service called`, async () => {
        assertError(await call({ method, url: `/api/scenarios/not-a-scenario-id${path}`, bearer: await token('operator') }), 400, 'bad_request');
        assert.deepEqual(calls, []);
      });
    }
    it('an id longer than the router takes: 414 uri_too_long', async () => {
      assertError(await call({ method: 'GET', url: `/api/scenarios/scn-${'a'.repeat(200)}`, bearer: await token('operator') }), 414, 'uri_too_long');
    });
  });

  describe('routes and methods the API does not have', () => {
    it('an unknown route answers 404 not_found', async () => {
      assertError(await call({ method: 'GET', url: '/api/nope' }), 404, 'not_found');
    });

    // A path that exists, asked with a method it does not have: 405 with the methods it has in
    // Allow (HEAD wherever GET is, since Fastify serves it), before any token is checked.
    const cases: Array<[InjectOptions['method'], string, string]> = [
      ['GET', '/api/sat', 'POST'],
      ['PUT', '/api/spawn', 'POST'],
      ['DELETE', `/api/scenarios/${ID}`, 'GET, HEAD'],
      ['PATCH', '/api/retention/sweep', 'POST'],
      ['PUT', `/api/scenarios/${ID}/hold`, 'DELETE, POST'],
      ['DELETE', `/api/scenarios/${ID}/files`, 'GET, HEAD, PUT'],
      ['POST', '/healthz', 'GET, HEAD'],
      ['OPTIONS', '/.well-known/arbiter/keys', 'GET, HEAD'],
    ];
    for (const [method, url, allow] of cases) {
      it(`${String(method)} ${url.replace(ID, ':id')}, a method its path does not have, answers 405 with Allow: ${allow}`, async () => {
        const res = await call({ method, url, bearer: await token('operator') });
        assertError(res, 405, 'method_not_allowed');
        assert.equal(res.headers.allow, allow);
        assert.deepEqual(calls, []);
      });
    }

    it('HEAD is answered wherever GET is', async () => {
      const res = await call({ method: 'HEAD', url: '/healthz' });
      assert.equal(res.statusCode, 200);
    });

    it('a body the missing route would never read does not turn 404 or 405 into 400', async () => {
      const bad = { headers: { 'content-type': 'application/json' }, payload: '{"not json' };
      assertError(await call({ method: 'POST', url: '/api/nope', ...bad }), 404, 'not_found');
      const res = await call({ method: 'DELETE', url: '/api/sat', ...bad });
      assertError(res, 405, 'method_not_allowed');
      assert.equal(res.headers.allow, 'POST');
      // QUERY needs a Content-Type on a route that has it; on one that has not, it is just another method.
      assertError(await call({ method: 'QUERY', url: '/healthz' }), 405, 'method_not_allowed');
    });
  });

  it('a sane X-Correlation-Id from the caller is the one answered; an absent one is made up', async () => {
    const given = await call({ method: 'GET', url: '/healthz', headers: { 'x-correlation-id': 'corr-123' } });
    assert.equal(given.headers['x-correlation-id'], 'corr-123');
    const made = await call({ method: 'GET', url: '/healthz' });
    assert.match(String(made.headers['x-correlation-id']), /^[0-9a-f-]{36}$/);
  });

  describe('the routes reach the swapped services', () => {
    it('an ET mints a SAT: 201 with the plan the entitlements resolved, and the ET recorded as a grant', async () => {
      const res = await call({ method: 'POST', url: '/api/sat', bearer: await token('et'), payload: { template: 'hello', track: 'intro' } });
      assert.equal(res.statusCode, 201, res.body);
      assert.deepEqual({ ...res.json<Record<string, unknown>>(), sat: '…', expiresAt: '…' }, {
        sat: '…', expiresAt: '…', plan: 'free', retentionDays: 7, template: 'hello', templateVersion: '1',
      });
      assert.deepEqual(calls, ['entitlements.record']);
    });

    it('a SAT spawns: 202 with Location, the SAT\'s claims and the correlation id handed to the spawn service', async () => {
      const res = await call({ method: 'POST', url: '/api/spawn', bearer: await token('sat'), headers: { 'x-correlation-id': 'spawn-corr-1' }, payload: {} });
      assert.equal(res.statusCode, 202, res.body);
      const { scenarioId: id, status } = res.json<{ scenarioId: string; status: string }>();
      assert.equal(status, 'pending');
      assert.equal(res.headers.location, `/api/scenarios/${id}`);
      assert.equal(spawned.length, 1);
      assert.equal(`scn-${spawned[0]!.sat.jti}`, id);
      assert.deepEqual([spawned[0]!.sat.sub, spawned[0]!.sat.tenant, spawned[0]!.correlationId], ['alice', 'acme', 'spawn-corr-1']);
    });

    it('GET of one\'s own scenario answers 200 without the completion digest', async () => {
      const s = scenario({ completionDigest: 'a'.repeat(64) });
      known.set(s.scenarioId, s);
      const res = await call({ method: 'GET', url: `/api/scenarios/${s.scenarioId}`, bearer: await token('sat') });
      assert.equal(res.statusCode, 200, res.body);
      const view = res.json<Record<string, unknown>>();
      assert.equal(view.scenarioId, s.scenarioId);
      assert.equal(view.status, 'running');
      assert.ok(!('completionDigest' in view), 'the completion digest is internal');
    });

    it('a held scenario: its subject sees that it is held, an operator also sees who holds it and why', async () => {
      const hold = { actor: 'operator:ops', reason: 'investigation 42', since: new Date().toISOString() };
      const s = scenario({ status: 'scored', retention: { status: 'held', deleteAfter: new Date(Date.now() + 86_400_000).toISOString(), held: true, hold } });
      known.set(s.scenarioId, s);
      const bySubject = (await call({ method: 'GET', url: `/api/scenarios/${s.scenarioId}`, bearer: await token('et') })).json<Scenario>();
      const byOperator = (await call({ method: 'GET', url: `/api/scenarios/${s.scenarioId}`, bearer: await token('operator') })).json<Scenario>();
      assert.equal(bySubject.retention?.held, true);
      assert.equal(bySubject.retention?.hold, undefined);
      assert.deepEqual(byOperator.retention?.hold, hold);
    });

    it('another subject\'s (or tenant\'s) scenario answers 404 exactly like an unknown id', async () => {
      const s = scenario();
      known.set(s.scenarioId, s);
      const unknown = scenarioId();
      const strip = (res: LightMyRequestResponse, id: string) => ({ status: res.statusCode, body: res.body.replaceAll(id, '<id>') });
      for (const stranger of [{ sub: 'mallory' }, { tenant: 'other-tenant' }]) {
        const bearer = await token('sat', stranger);
        for (const path of ['', '/cancel', '/verdict']) {
          const method = path === '/cancel' ? 'POST' : 'GET';
          const theirs = await call({ method, url: `/api/scenarios/${s.scenarioId}${path}`, bearer });
          const none = await call({ method, url: `/api/scenarios/${unknown}${path}`, bearer });
          assertError(theirs, 404, 'not_found');
          assert.deepEqual(strip(theirs, s.scenarioId), strip(none, unknown));
        }
      }
      assert.ok(!calls.includes('scenarios.cancel'), 'nothing was cancelled');
    });

    it('a scenario\'s access calls a minute are spent only by callers whose token names it: strangers cannot lock its subject out', async () => {
      const limited = await buildApp({ config: { ...t.config, accessRateLimitPerMinute: 3 }, plans: loadPlans(), templatesDir: DEFAULT_TEMPLATES_DIR, checks: {}, services: allFakes() });
      try {
        // Running on a host nobody serves: a call let through is answered 503 by the relay.
        const s = scenario({ hostId: 'no-such-host', access: { exec: true, files: true, terminal: false, terminalSessions: 0 } });
        known.set(s.scenarioId, s);
        const exec = (bearer?: string) => limited.inject({ method: 'POST', url: `/api/scenarios/${s.scenarioId}/exec`, headers: bearer ? { authorization: `Bearer ${bearer}` } : {}, payload: { cmd: ['true'] } });
        const forged = await token('access', { forScenario: s.scenarioId, ring: { current: randomBytes(32), previous: [] } });
        const othersScenario = await token('access', { forScenario: scenarioId() });
        const othersSat = await token('sat');
        for (let i = 0; i < 4; i++) {
          assert.equal((await exec()).statusCode, 401);
          assert.equal((await exec(forged)).statusCode, 401);
          assert.equal((await exec(othersScenario)).statusCode, 404);
          assert.equal((await exec(othersSat)).statusCode, 404);
        }
        const own = await token('access', { forScenario: s.scenarioId });
        for (let i = 0; i < 3; i++) {
          const res = await exec(own);
          assert.equal(res.statusCode, 503, res.body);
          assert.equal(res.json<{ error: { code: string } }>().error.code, 'host_unavailable');
        }
        const over = await exec(own);
        assert.equal(over.statusCode, 429, over.body);
        assert.equal(over.json<{ error: { code: string } }>().error.code, 'rate_limited');
        assert.ok(Number(over.headers['retry-after']) > 0, 'a 429 says when to retry');
      } finally {
        await limited.close();
      }
    });
  });

  describe('service wiring', () => {
    it('a replacement that does not carry its service\'s name fails the build, naming the dependency it left missing', async () => {
      const unnamed = fp(async (a: FastifyInstance) => { a.decorate('quota', fakes.quota); });
      const other = await testConfig();
      try {
        await assert.rejects(
          buildApp({ config: other.config, plans: loadPlans(), templatesDir: DEFAULT_TEMPLATES_DIR, checks: {}, services: { ...allFakes(), quota: unnamed } }),
          /arbiter-quota/,
        );
      } finally {
        other.cleanup();
      }
    });

    it('without a Temporal client, a service left real fails the build and says what to pass', async () => {
      const { scenarios: _real, ...rest } = allFakes();
      const other = await testConfig();
      try {
        await assert.rejects(buildApp({ config: other.config, plans: loadPlans(), templatesDir: DEFAULT_TEMPLATES_DIR, checks: {}, services: rest }), /Temporal client/);
      } finally {
        other.cleanup();
      }
    });
  });
});
