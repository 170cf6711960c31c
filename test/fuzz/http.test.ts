// HTTP fuzzer over every route of the real API, listening on loopback in front of the real
// Temporal dev server, workers and Docker engine (test/support/stack.ts). Random methods, paths,
// headers, tokens (garbage and genuinely signed ones with odd claims), content types and bodies
// of every type and size. What must hold for every answer: no 5xx, every error body in the
// contract's shape {error:{code,message}}, 413 for an oversized body on a route that takes one;
// and across the run: the process stays up and its memory stays flat.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { randomUUID } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { completionRing, mintToken } from '../../infra/tokens.ts';
import { containersOf, waitFor } from '../support/harness.ts';
import { startStack, type Stack } from '../support/stack.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const BODY_LIMIT = 64 * 1024;
/** Routes that take more than the app's 64 KiB (api/routes/access.ts): an exec's stdin, a file's bytes. */
const ROUTE_BODY_LIMITS: Record<string, number> = {
  'POST /api/scenarios/:id/exec': 16 * 1024 * 1024,
  'PUT /api/scenarios/:id/files': 100 * 1024 * 1024,
};
const limitOf = (route: { method: string; path: string } | undefined) => (route && ROUTE_BODY_LIMITS[`${route.method} ${route.path}`]) ?? BODY_LIMIT;
const WARMUP = 1_000;
const MEASURED = 10_000;
const CONCURRENCY = 16;
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
/** Methods whose bodies Fastify parses (it ignores a GET's or HEAD's body). */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** Content types the app has a parser for: anything else is a 415 before the body is read. */
const PARSED_TYPES = /^\s*(application\/json|text\/plain)\s*(;|$)/i;

interface Route { method: string; path: string }
interface FuzzRequest { method: string; path: string; headers: Record<string, string>; body?: Buffer; chunked: boolean; route?: Route }
interface Answer { status: number; headers: Record<string, string | string[] | undefined>; text: string }

/** Every method and path the app serves, read off Fastify's own route tree. */
function routesOf(tree: string): Route[] {
  const routes: Route[] = [];
  const segments: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^((?:│ {3}| {4})*)(?:├── |└── )(.*)$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    const named = /^(.*) \(([A-Z, ]+)\)$/.exec(m[2]!);
    segments.length = depth;
    segments[depth] = named ? named[1]! : m[2]!;
    if (named) for (const method of named[2]!.split(', ')) routes.push({ method, path: segments.join('') });
  }
  return routes;
}

/** Bodies a route accepts (undefined: no body), for the systematic pass. */
function validBody(route: Route, receipts: string[]): Array<string | undefined> {
  if (!BODY_METHODS.has(route.method)) return [undefined];
  if (route.path === '/api/sat') return [JSON.stringify({ template: 'hello', track: 'intro' }), JSON.stringify({ template: 'log-triage', track: 'forensics' })];
  if (route.path === '/api/spawn') return ['{}'];
  if (route.path.endsWith('/complete')) return [JSON.stringify({ outcome: 'success', submission: { answer: 'hello' } })];
  if (route.path.endsWith('/hold')) return [undefined, JSON.stringify({ reason: 'fuzz' })];
  if (route.path === '/api/retention/sweep') return [JSON.stringify({ dryRun: true })];
  if (route.path === '/api/billing/receipts') return receipts.map((receipt) => JSON.stringify({ receipt }));
  return [undefined, '{}'];
}

/**
 * A route's path with its id and its wildcard filled in, in one pass with a function: an id may
 * hold a `*` (encodeURIComponent keeps it) that is not the route's wildcard, and a string
 * replacement would read `$&` and its kin as patterns.
 */
function pathOf(route: Route, id: string, rest: string): string {
  return route.path.replace(/:id|\*/g, (m) => (m === '*' ? rest : id));
}

/** A URL the router can decode and match: a bad one is refused (400, 414) before its body is read. */
function wellFormed(path: string): boolean {
  try {
    const p = decodeURIComponent(path.split('?')[0]!);
    return p.split('/').every((segment) => segment.length <= 100);
  } catch {
    return false;
  }
}

/** One request over a keep-alive agent; a hang is a failure too (timeout). */
function send(base: URL, agent: Agent, r: FuzzRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = { ...r.headers };
    // Explicit framing: node sends a GET's or DELETE's body unframed unless told which framing to use.
    if (r.body) {
      if (r.chunked) headers['transfer-encoding'] = 'chunked';
      else headers['content-length'] = String(r.body.length);
    }
    const req = httpRequest({ host: base.hostname, port: base.port, method: r.method, path: r.path, headers, agent, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', reject);
    if (r.body) req.end(r.body);
    else req.end();
  });
}

/** A bearer JWT shown as what it is (its typ and claims), not as an opaque string. */
function describeAuth(header: string | undefined): string {
  const token = /^Bearer\s+(\S+)/i.exec(header ?? '')?.[1];
  const [h, p] = (token ?? '').split('.');
  try {
    const typ = (JSON.parse(Buffer.from(h!, 'base64url').toString('utf8')) as { typ?: string }).typ;
    const { sub, tenant, plan, template } = JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')) as Record<string, unknown>;
    return `${typ ?? '?'} ${JSON.stringify({ sub, tenant, plan, template })}`;
  } catch {
    return JSON.stringify((header ?? '').slice(0, 80));
  }
}

function describeRequest(r: FuzzRequest): string {
  r = { ...r, headers: { ...r.headers, ...(r.headers.authorization ? { authorization: describeAuth(r.headers.authorization) } : {}) } };
  const body = r.body ? `${r.body.length} bytes: ${JSON.stringify(r.body.subarray(0, 200).toString('utf8'))}` : 'no body';
  return `${r.method} ${r.path.slice(0, 300)} ${JSON.stringify(r.headers).slice(0, 600)} ${body}${r.chunked ? ' (chunked)' : ''}`;
}

describe('HTTP fuzzer: every route of the listening API', () => {
  let stack: Stack;
  let routes: Route[];
  const spawned = new Set<string>();
  const crashes: unknown[] = [];
  const onCrash = (err: unknown) => { crashes.push(err); };

  before(async () => {
    process.on('uncaughtException', onCrash);
    process.on('unhandledRejection', onCrash);
    // The fuzzer is one client sending thousands of requests: the per-client cap would answer
    // most of them 429 before they reach a route.
    stack = await startStack({ env: { ARBITER_HTTP_RATE_LIMIT: '100000000' } });
    routes = routesOf(stack.app.printRoutes());
    stack.app.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const key = String(req.headers['x-fuzz-seq']);
      const entry: { arrived: number; answered?: number; closed?: number } = { arrived: Date.now() };
      serverSide.set(key, entry);
      res.once('finish', () => { entry.answered = Date.now(); });
      res.once('close', () => { entry.closed = Date.now(); });
    });
  });

  after(async () => {
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
    if (!stack) return;
    for (const id of spawned) {
      await stack.env.client.workflow.getHandle(id).cancel().catch(() => undefined);
      await waitFor(`containers of ${id} removed`, async () => ((await containersOf(id)).length === 0 ? true : undefined), 60_000);
    }
    await stack.stop();
  });

  /** Tokens a client might hold: garbage, each kind genuinely signed, and signed ones with odd claims. */
  async function tokenPool(realId: string): Promise<string[]> {
    const s = stack.t.config.secrets;
    const odd = ['__proto__', 'constructor', 'toString', '', ' ', '../..', '%00', '\u202e', 'a'.repeat(128), 'ünï'];
    const mint = async (kind: Parameters<typeof mintToken>[0], claims: Record<string, unknown>, ring: NonNullable<typeof s.ET_HMAC_SECRET>) =>
      (await mintToken(kind, claims as never, ring, { ttlSeconds: 900 })).token;
    const tokens: string[] = [
      await stack.et('fuzz', 'fuzz-acme', 'free'),
      await stack.et('fuzz', 'fuzz-acme', 'enterprise'),
      await stack.operator('fuzz-ops'),
      // SATs for templates that do not exist: the spawn runs and is denied, no container.
      ...await Promise.all(['nope', 'hello', 'log-triage'].map((template) => stack.satFor({ sub: 'fuzz', tenant: 'fuzz-acme', template, template_version: template === 'nope' ? '1' : '999' }))),
      await mint('completion', { sub: realId }, completionRing(s.COMPLETION_HMAC_SECRET!, realId)),
      await mint('completion', { sub: `scn-${randomUUID()}` }, completionRing(s.COMPLETION_HMAC_SECRET!, realId)),
    ];
    for (const [i, v] of odd.entries()) {
      if (v) tokens.push(await mint('et', { sub: v, tenant: `${v}-${i}`, plan: v }, s.ET_HMAC_SECRET!));
      tokens.push(await mint('operator', { sub: v || 'x', role: 'operator' }, s.OPERATOR_HMAC_SECRET!));
    }
    return tokens;
  }

  async function receiptPool(): Promise<string[]> {
    const ring = stack.t.config.secrets.BILLING_HMAC_SECRET!;
    const out: string[] = [];
    for (const plan of ['pro', 'nope', '__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      out.push((await mintToken('receipt', { sub: `r-${plan}`, tenant: `fuzz-r-${plan}`, plan }, ring, { ttlSeconds: 900 })).token);
    }
    return out;
  }

  function requests(realId: string, tokens: string[], receipts: string[]): fc.Arbitrary<FuzzRequest> {
    const anyJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.constant(null), fc.boolean(), fc.double(), fc.integer(), fc.string({ unit: 'binary' }),
        fc.array(tie('value'), { maxLength: 5 }),
        fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'outcome', 'submission', 'template', 'track', 'dryRun', 'receipt', 'reason')), tie('value'), { maxKeys: 5, noNullPrototype: false }),
      ),
    })).value;
    const deep = fc.tuple(fc.integer({ min: 100, max: 30_000 }), fc.boolean()).map(([n, arr]) => (arr ? '['.repeat(n) + ']'.repeat(n) : '{"a":'.repeat(n) + '1' + '}'.repeat(n)));
    const oversized = fc.integer({ min: 1, max: 200_000 }).map((extra) => JSON.stringify({ template: 'hello', track: 'intro', pad: 'x'.repeat(BODY_LIMIT + extra) }));
    const shaped = fc.oneof(
      fc.record({ template: fc.oneof(fc.constantFrom('hello', 'hello@1', 'hello@999', 'probe', 'log-triage', 'nope@1', '@', 'hello@'), fc.string(), anyJson), track: fc.oneof(fc.constantFrom('intro', 'forensics', 'agents'), fc.string(), anyJson) }, { requiredKeys: [] }),
      fc.record({ outcome: fc.oneof(fc.constantFrom('success', 'failure', 'gave_up'), anyJson), submission: fc.oneof(fc.dictionary(fc.string({ maxLength: 200 }), anyJson, { maxKeys: 70 }), anyJson) }, { requiredKeys: [] }),
      deep.map((d) => `{"outcome":"success","submission":{"answer":${d}}}`),
      fc.record({ dryRun: fc.oneof(fc.boolean(), anyJson) }, { requiredKeys: [] }),
      fc.record({ receipt: fc.oneof(fc.constantFrom(...receipts, ...tokens), fc.string()) }, { requiredKeys: [] }),
      fc.record({ reason: fc.oneof(fc.string({ maxLength: 600 }), anyJson) }, { requiredKeys: [] }),
      fc.constant({}),
    );
    const body = fc.oneof(
      { weight: 4, arbitrary: shaped.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))) },
      { weight: 2, arbitrary: anyJson.map((v) => JSON.stringify(v) ?? 'null') },
      { weight: 1, arbitrary: deep },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1')) },
      { weight: 1, arbitrary: fc.constantFrom('', ' ', 'null', '"', '{', '[', '{"a":1}{"a":2}', '\ufeff{}', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', '1e999', '-0', '"\\ud800"') },
      { weight: 1, arbitrary: oversized },
    ).map((s) => Buffer.from(s, [...s].some((ch) => ch.charCodeAt(0) > 0xff) ? 'utf8' : 'latin1'));
    const segment = fc.oneof(
      { weight: 3, arbitrary: fc.constant(realId) },
      { weight: 3, arbitrary: fc.uuid().map((u) => `scn-${u}`) },
      { weight: 2, arbitrary: fc.string().map(encodeURIComponent) },
      { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '%00', '%c0%af', '..%2f..', '..', '.', `scn-${'a'.repeat(70)}`, 'scn-%F0%9F%99%82', '%E2%82', '', ';', '?', '#', `scn-${'b'.repeat(150)}`) },
    );
    const query = fc.oneof(
      { weight: 6, arbitrary: fc.constant('') },
      { weight: 1, arbitrary: fc.array(fc.tuple(fc.string(), fc.string()), { maxLength: 4 }).map((kv) => `?${kv.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`) },
      { weight: 1, arbitrary: fc.constantFrom('?', '?a', '?a=%', '?a[b]=1&a[c]=2', '?__proto__[x]=1', `?x=${'y'.repeat(4000)}`) },
    );
    const routed = fc.tuple(fc.constantFrom(...routes), segment, fc.string().map((s) => s.split('/').map(encodeURIComponent).join('/'))).map(([route, id, rest]) => ({
      // A raw `?` or `#` as the id cuts the path the server sees (`/api/scenarios/#/files` reaches
      // `/api/scenarios/`): such a request is answered by whatever route that path names, not this one.
      route: /[?#]/.test(id) ? undefined : route,
      path: pathOf(route, id, rest),
    }));
    const unrouted = fc.oneof(
      fc.array(fc.oneof(segment, fc.constantFrom('api', 'scenarios', 'docs', 'static', '.well-known', 'arbiter', 'keys', 'verify', 'hold', 'complete')), { maxLength: 6 }).map((s) => `/${s.join('/')}`),
      fc.constantFrom('//', '/api//spawn', '/API/SPAWN', '/api/spawn/', '/api/scenarios/', '/docs', '/docs/', '/docs/static/index.html', '/docs/json', '/docs/yaml', '/openapi.json/', '/%2e%2e/%2e%2e/etc/passwd', `/${'a'.repeat(6000)}`),
    ).map((path) => ({ path, route: undefined as Route | undefined }));
    const target = fc.oneof({ weight: 5, arbitrary: routed }, { weight: 1, arbitrary: unrouted });
    const otherMethod = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'SEARCH', 'PROPFIND', 'LOCK', 'FOO');
    const auth = fc.oneof(
      { weight: 2, arbitrary: fc.constant(undefined) },
      { weight: 5, arbitrary: fc.constantFrom(...tokens).map((t) => `Bearer ${t}`) },
      { weight: 1, arbitrary: fc.constantFrom(...tokens).map((t) => `bearer   ${t}  `) },
      { weight: 1, arbitrary: fc.constantFrom(...receipts).map((t) => `Bearer ${t}`) },
      { weight: 2, arbitrary: fc.oneof(fc.constantFrom('Bearer', 'Bearer ', 'Basic Zm9vOmJhcg==', 'Bearer a.b.c', 'Bearer ..', `Bearer ${'A'.repeat(9000)}`, 'Bearer eyJhbGciOiJub25lIn0.e30.'), fc.string().map((s) => `Bearer ${s}`)) },
    );
    const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 200 });
    const contentType = fc.oneof(
      { weight: 5, arbitrary: fc.constant('application/json') },
      { weight: 1, arbitrary: fc.constant(undefined) },
      { weight: 2, arbitrary: fc.constantFrom('application/json; charset=utf-8', 'APPLICATION/JSON', 'application/json; charset=latin1', 'application/json; charset=utf-16', 'text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', 'application/jsonx', 'application/json;', ';', '*/*', 'application/merge-patch+json', '') },
      { weight: 1, arbitrary: printable },
    );
    const extraHeaders = fc.record({
      'x-correlation-id': fc.oneof(fc.constantFrom('corr-1', 'a'.repeat(200), '../x', ''), printable),
      accept: fc.constantFrom('application/json', 'text/html', '*/*', 'application/xml', ''),
      'x-plan': fc.constantFrom('enterprise', '__proto__', 'constructor', ''),
      'content-encoding': fc.constantFrom('gzip', 'br', 'deflate', 'identity', 'zstd'),
      'accept-encoding': fc.constantFrom('gzip', 'br, gzip', '*', ''),
      'x-forwarded-for': fc.constantFrom('1.2.3.4', 'garbage', ''),
      [`x-fuzz-${'h'}`]: printable,
    }, { requiredKeys: [] });
    return fc.record({
      target,
      keepMethod: fc.boolean().chain((b) => (b ? fc.constant(true) : fc.boolean())), // mostly the route's own
      method: otherMethod,
      query,
      auth,
      contentType,
      extra: extraHeaders,
      body: fc.option(body, { freq: 5 }),
      chunked: fc.boolean().chain((b) => (b ? fc.boolean() : fc.constant(false))),
    }).map((g) => {
      const method = g.target.route && g.keepMethod ? g.target.route.method : g.method;
      const headers: Record<string, string> = { ...(g.extra as Record<string, string>) };
      if (g.auth !== undefined) headers.authorization = g.auth;
      if (g.contentType !== undefined) headers['content-type'] = g.contentType;
      const body = g.body ?? undefined;
      return { method, path: g.target.path + g.query, headers, ...(body ? { body } : {}), chunked: body !== undefined && g.chunked, ...(g.target.route ? { route: g.target.route } : {}) };
    });
  }

  /** What must hold for one answer; a list of what did not. */
  function judge(r: FuzzRequest, a: Answer): string[] {
    const problems: string[] = [];
    if (a.status >= 500) problems.push(`status ${a.status}: ${a.text.slice(0, 300)}`);
    if (a.status >= 400 && r.method !== 'HEAD') {
      let body: unknown;
      try {
        body = JSON.parse(a.text);
      } catch {
        body = undefined;
      }
      const e = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
      if (typeof e?.code !== 'string' || typeof e.message !== 'string') problems.push(`status ${a.status} without the {error:{code,message}} body: ${a.text.slice(0, 300)}`);
    }
    const takesBody = r.route && r.method === r.route.method && BODY_METHODS.has(r.method) && PARSED_TYPES.test(r.headers['content-type'] ?? '') && wellFormed(r.path);
    // A route that declares its tokens refuses a bad one before the body is read (plugins/auth.ts).
    const refusedToken = (a.status === 401 || a.status === 403) && /"code":"token_/.test(a.text);
    // A request of another method on a route's path is the not-found handler's, with the app's limit.
    const limit = r.route && r.method === r.route.method ? limitOf(r.route) : BODY_LIMIT;
    if (r.body && r.body.length > limit && takesBody && a.status !== 413 && !refusedToken) problems.push(`an oversized body (${r.body.length} bytes) got ${a.status}, not 413`);
    if (a.status === 413 && !(r.body && r.body.length > limit)) problems.push(`413 for a body of ${r.body?.length ?? 0} bytes`);
    return problems;
  }

  /** What the server saw of each request (by its x-fuzz-seq header): when it arrived and when its answer went out. */
  const serverSide = new Map<string, { arrived: number; answered?: number; closed?: number }>();
  let seq = 0;

  async function run(base: URL, batch: FuzzRequest[]): Promise<{ failures: string[]; statuses: Map<number, number> }> {
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < batch.length) {
        const r = batch[next++]!;
        r.headers['x-fuzz-seq'] = String(++seq);
        const sentAt = Date.now();
        let answer: Answer;
        try {
          answer = await send(base, agent, r);
        } catch (err) {
          // The server may close a connection it refused a body on; anything else is a failure.
          if (r.body && r.body.length > BODY_LIMIT && /ECONNRESET|EPIPE|socket hang up/.test(String(err))) continue;
          const server = serverSide.get(r.headers['x-fuzz-seq']);
          const seen = server ? `arrived +${server.arrived - sentAt} ms, answered ${server.answered ? `+${server.answered - sentAt} ms` : 'never'}, closed ${server.closed ? `+${server.closed - sentAt} ms` : 'never'}` : 'never arrived';
          failures.push(`${describeRequest(r)} → no answer: ${String(err)} (server side: ${seen})`);
          continue;
        }
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        if (answer.status === 202 && r.path.startsWith('/api/spawn')) spawned.add((JSON.parse(answer.text) as { scenarioId: string }).scenarioId);
        for (const p of judge(r, answer)) failures.push(`${describeRequest(r)} → ${p}`);
      }
    }));
    agent.destroy();
    return { failures, statuses };
  }

  function memory() {
    gc();
    gc();
    const m = process.memoryUsage();
    return { heapUsed: m.heapUsed, rss: m.rss };
  }

  it(`${WARMUP + MEASURED} requests (every route with every token, then random ones): no 5xx, contract error bodies, 413 for oversized bodies; the process stays up with flat memory`, async () => {
    assert.ok(routes.length >= 15, `routes read from the app: ${JSON.stringify(routes)}`);
    // One real scenario, so that routes taking an id also meet one that exists.
    const realSat = await stack.satFor({ sub: 'fuzz-real', tenant: 'fuzz-acme' });
    const realSpawn = await stack.call('POST', '/api/spawn', realSat, {});
    assert.equal(realSpawn.status, 202, JSON.stringify(realSpawn.json));
    const realId = realSpawn.json!.scenarioId as string;
    spawned.add(realId);
    const tokens = [...await tokenPool(realId), realSat];
    const receipts = await receiptPool();

    // Every route with every token (and every receipt where a receipt is the credential) and a
    // body it accepts, so each handler runs past authentication with each kind of principal;
    // then random requests. The systematic part is the warm-up of the memory measurement.
    const systematic = routes.flatMap((route) => [realId, `scn-${randomUUID()}`].flatMap((id) => {
      const path = pathOf(route, id, 'index.html');
      if (id !== realId && !route.path.includes(':id')) return [];
      const body = validBody(route, receipts);
      return [undefined, ...tokens].flatMap((token) => body.map((b): FuzzRequest => ({
        method: route.method,
        path,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(b !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(b !== undefined ? { body: Buffer.from(b) } : {}),
        chunked: false,
        route,
      })));
    }));
    const all = [...systematic, ...fc.sample(requests(realId, tokens, receipts), { numRuns: WARMUP + MEASURED - systematic.length, seed: SEED })];
    const base = new URL(stack.base);
    const started = Date.now();
    const warm = await run(base, all.slice(0, WARMUP));
    const before = memory();
    const measured = await run(base, all.slice(WARMUP));
    const afterRun = memory();
    const seconds = (Date.now() - started) / 1000;

    const statuses = new Map(warm.statuses);
    for (const [s, n] of measured.statuses) statuses.set(s, (statuses.get(s) ?? 0) + n);
    const failures = [...warm.failures, ...measured.failures];
    console.log(`fuzz seed ${SEED}: ${all.length} requests in ${seconds.toFixed(1)} s over ${routes.length} routes; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`);
    console.log(`memory after GC: heap ${(before.heapUsed / 2 ** 20).toFixed(1)} → ${(afterRun.heapUsed / 2 ** 20).toFixed(1)} MiB, rss ${(before.rss / 2 ** 20).toFixed(1)} → ${(afterRun.rss / 2 ** 20).toFixed(1)} MiB`);
    // One example of each kind of failure (the same bug tends to show up many times).
    const kinds = new Map<string, string>();
    for (const f of failures) {
      const kind = f.slice(f.lastIndexOf(' → ') + 3).replace(/\d+ bytes/g, 'N bytes').slice(0, 120);
      if (!kinds.has(kind)) kinds.set(kind, f);
    }
    assert.deepEqual([...kinds.values()], [], `${failures.length} failing answers of ${kinds.size} kinds (seed ${SEED}; FUZZ_SEED=${SEED} replays them)`);
    assert.deepEqual(crashes, [], 'nothing escaped as an uncaught exception or unhandled rejection');

    // Every route was reached with its own method, and more than one kind of answer came back.
    const answered = [...statuses.values()].reduce((a, b) => a + b, 0);
    assert.ok(answered >= (WARMUP + MEASURED) * 0.95, `answered ${answered}`);
    assert.ok(statuses.has(413) && statuses.has(401) && statuses.has(404) && [...statuses.keys()].some((s) => s < 300), JSON.stringify([...statuses]));

    // Still up, still serving, and no leak: 10,000 requests may not grow the heap past a generous bound.
    assert.equal((await stack.call('GET', '/healthz')).status, 200);
    assert.ok(afterRun.heapUsed - before.heapUsed < 48 * 2 ** 20, `heap grew by ${((afterRun.heapUsed - before.heapUsed) / 2 ** 20).toFixed(1)} MiB`);
    assert.ok(afterRun.rss - before.rss < 192 * 2 ** 20, `rss grew by ${((afterRun.rss - before.rss) / 2 ** 20).toFixed(1)} MiB`);
  });

  it('a plan named after an inherited property (found by the fuzzer) is an unknown plan: an ET gets no SAT, a receipt is refused', async () => {
    for (const plan of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      const et = (await mintToken('et', { sub: 'proto', tenant: `proto-${plan}`, plan }, stack.t.config.secrets.ET_HMAC_SECRET!, { ttlSeconds: 300 })).token;
      const sat = await stack.call('POST', '/api/sat', et, { template: 'hello', track: 'intro' });
      assert.equal(sat.status, 403, `${plan}: ${JSON.stringify(sat.json)}`);
      assert.equal((sat.json!.error as { code: string }).code, 'unknown_plan');
      const receipt = (await mintToken('receipt', { sub: 'r', tenant: `proto-r-${plan}`, plan }, stack.t.config.secrets.BILLING_HMAC_SECRET!, { ttlSeconds: 300 })).token;
      const refused = await stack.call('POST', '/api/billing/receipts', undefined, { receipt });
      assert.equal(refused.status, 403, `${plan}: ${JSON.stringify(refused.json)}`);
      assert.equal((refused.json!.error as { code: string }).code, 'unknown_plan');
    }
  });

  it('every route that takes a body answers an oversized one with 413 and the contract body, with or without a length, once its token is accepted; without one it is refused before the body is read', async () => {
    const base = new URL(stack.base);
    const takers = routes.filter((r) => BODY_METHODS.has(r.method));
    assert.ok(takers.length >= 6, JSON.stringify(takers));
    // Each route's token kinds, as the served OpenAPI document declares them.
    const doc = stack.app.swagger() as { paths: Record<string, Record<string, { 'x-arbiter-tokens'?: string[] }>> };
    const tokensOf = (route: Route) => doc.paths[route.path.replace(/:id/g, '{id}')]?.[route.method.toLowerCase()]?.['x-arbiter-tokens'];
    const tokenFor: Record<string, () => Promise<string>> = {
      operator: () => stack.operator('fuzz-413'),
      et: () => stack.et('fuzz-413', 'fuzz-acme', 'free'),
      sat: () => stack.satFor({ sub: 'fuzz-413', tenant: 'fuzz-acme' }),
    };
    const agent = new Agent({ keepAlive: false });
    for (const route of takers) {
      const kinds = tokensOf(route);
      const kind = kinds?.find((k) => tokenFor[k]);
      assert.ok(!kinds || kind, `${route.method} ${route.path} takes ${JSON.stringify(kinds)}: no test token for it`);
      const token = kind ? await tokenFor[kind]!() : undefined;
      for (const chunked of [false, true]) {
        for (const contentType of ['application/json', 'text/plain']) {
          const path = pathOf(route, `scn-${randomUUID()}`, 'x');
          const body = Buffer.from(JSON.stringify({ pad: 'x'.repeat(limitOf(route)) }));
          const label = `${route.method} ${route.path} (${contentType}${chunked ? ', chunked' : ''})`;
          const a = await send(base, agent, { method: route.method, path, headers: { 'content-type': contentType, ...(token ? { authorization: `Bearer ${token}` } : {}) }, body, chunked });
          assert.equal(a.status, 413, `${label}: ${a.text}`);
          assert.equal((JSON.parse(a.text) as { error: { code: string } }).error.code, 'payload_too_large');
          if (!kinds) continue;
          const anonymous = await send(base, agent, { method: route.method, path, headers: { 'content-type': contentType }, body, chunked });
          assert.equal(anonymous.status, 401, `${label} without a token: ${anonymous.text}`);
          assert.equal((JSON.parse(anonymous.text) as { error: { code: string } }).error.code, 'token_missing');
        }
      }
    }
    agent.destroy();
  });

  it('requests malformed at the HTTP layer get a 4xx and the server keeps serving', async () => {
    const base = new URL(stack.base);
    const raw = [
      'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
      'GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n',
      'POST /api/spawn HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
      'GARBAGE\r\n\r\n',
      'GET /%%%% HTTP/1.1\r\nHost: x\r\n\r\n',
      `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`,
      'GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n',
      'GET / HTTP/9.9\r\nHost: x\r\n\r\n',
    ];
    for (const text of raw) {
      const answer = await new Promise<string>((resolve) => {
        const socket = connect(Number(base.port), base.hostname);
        let got = '';
        socket.on('data', (d: Buffer) => { got += d.toString('latin1'); });
        socket.on('close', () => resolve(got));
        socket.on('error', () => resolve(got));
        socket.setTimeout(5_000, () => socket.destroy());
        socket.end(text);
      });
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1] ?? 0);
      assert.ok(status >= 400 && status < 500, `${JSON.stringify(text.slice(0, 80))} → ${JSON.stringify(answer.slice(0, 200))}`);
    }
    assert.equal((await stack.call('GET', '/healthz')).status, 200);
  });
});
