// The OpenAPI document is generated from the route schemas: it must be a valid OpenAPI 3.1
// document, and every route of CONTRACT.md must be in it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app.ts';
import { loadPlans } from '../../infra/plans.ts';
import { DEFAULT_TEMPLATES_DIR } from '../../infra/template.ts';
import { REPO, testConfig, type TestConfig } from '../support/harness.ts';

const CONTRACT = join(REPO, '..', 'shared', 'CONTRACT.md');

/**
 * Contract routes the API does not serve yet, each with the issue that adds it. Empty today: a
 * route added here must come with a reason, and removing a served route fails the test.
 */
const NOT_YET: string[] = [];

/** "METHOD /path" for every route in the contract's HTTP API table (":id" kept as written). */
function contractRoutes(markdown: string): string[] {
  const section = markdown.split(/^## /m).find((s) => s.startsWith('HTTP API')) ?? '';
  const routes: string[] = [];
  for (const line of section.split('\n')) {
    const firstCell = /^\|([^|]+)\|/.exec(line)?.[1];
    if (!firstCell) continue;
    let previous: string | undefined;
    for (const [, method, path] of firstCell.matchAll(/`(GET|POST|PUT|PATCH|DELETE) ([^`\s]+)/g)) {
      // "`DELETE …/hold`" abbreviates the path of the route before it on the same row.
      const full = path!.startsWith('…') && previous ? previous.replace(/\/[^/]+$/, '') + path!.slice(1) : path!;
      routes.push(`${method} ${full}`);
      previous = full;
    }
  }
  return routes;
}

describe('OpenAPI document', () => {
  let t: TestConfig;
  let app: FastifyInstance;
  let doc: { openapi: string; paths: Record<string, Record<string, unknown>> };

  before(async () => {
    t = await testConfig();
    // A lazy connection never dials: the document is built from the routes alone.
    const temporal = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) });
    app = await buildApp({ config: t.config, temporal, plans: loadPlans(), templatesDir: DEFAULT_TEMPLATES_DIR, checks: {} });
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(res.statusCode, 200);
    doc = res.json();
  });

  after(async () => {
    await app?.close();
    t?.cleanup();
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    assert.equal(doc.openapi, '3.1.0');
    // validate() dereferences in place: give it a copy.
    await SwaggerParser.validate(structuredClone(doc) as never);
  });

  it('has every route of CONTRACT.md except the ones listed as not built yet', () => {
    assert.ok(existsSync(CONTRACT), `${CONTRACT} is missing: the contract lives in shared/ beside the repository`);
    const wanted = contractRoutes(readFileSync(CONTRACT, 'utf8'));
    assert.ok(wanted.length >= 12, `parsed ${wanted.length} routes from the contract: ${wanted.join(', ')}`);
    const documented = new Set(Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`)));
    const missing = wanted.filter((r) => !documented.has(r) && !NOT_YET.includes(r));
    assert.deepEqual(missing, [], `contract routes missing from the OpenAPI document: ${missing.join(', ')}`);
    const stale = NOT_YET.filter((r) => documented.has(r));
    assert.deepEqual(stale, [], `routes now served: remove them from NOT_YET: ${stale.join(', ')}`);
  });

  it('describes each documented operation with a response schema for success and for the contract errors', () => {
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops as Record<string, { responses?: Record<string, unknown> }>)) {
        const codes = Object.keys(op.responses ?? {});
        // A WebSocket route's success is the switch of protocols.
        assert.ok(codes.some((c) => c.startsWith('2') || c === '101'), `${method.toUpperCase()} ${path} documents no success response`);
        if (path.startsWith('/api/')) assert.ok(codes.some((c) => c.startsWith('4')), `${method.toUpperCase()} ${path} documents no error response`);
      }
    }
  });

  it('documents the statuses Arbiter\'s plugins answer on every route that has what causes them', () => {
    type Op = { responses: Record<string, { headers?: Record<string, unknown> }>; security?: unknown[]; parameters?: Array<{ in: string }> };
    const problems: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops as Record<string, Op>)) {
        const has = (code: number) => code in op.responses;
        const want = (code: number, why: string) => { if (!has(code)) problems.push(`${method.toUpperCase()} ${path}: no ${code} (${why})`); };
        if ((op.security ?? []).length) { want(401, 'bad token'); want(403, 'token of another kind'); }
        if (op.parameters?.some((p) => p.in === 'path')) { want(400, 'malformed path parameter'); want(414, 'path parameter too long'); }
        if (op.parameters?.some((p) => p.in === 'query')) want(400, 'bad query string');
        if (['post', 'put', 'patch', 'delete'].includes(method)) { want(400, 'body not JSON'); want(413, 'body too large'); want(415, 'unsupported content type'); }
        // Probes and scrapes are exempt from the rate limit (routes/health.ts, routes/metrics.ts).
        if (!['/healthz', '/readyz', '/metrics'].includes(path)) {
          want(429, 'rate limited');
          if (has(429) && !op.responses['429']!.headers?.['Retry-After']) problems.push(`${method.toUpperCase()} ${path}: 429 without Retry-After`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });

  it('serves the browsable docs at /docs', async () => {
    const res = await app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /text\/html/);
    assert.match(res.body, /swagger-ui/i);
  });

  it('parses the contract table, including an abbreviated second route on one row', () => {
    const rows = contractRoutes('## HTTP API\n| method, path | auth |\n|---|---|\n| `POST /api/x/:id/hold`, `DELETE …/hold` | op |\n| `GET /healthz` | none |\n## Next\n| `GET /nope` |');
    assert.deepEqual(rows, ['POST /api/x/:id/hold', 'DELETE /api/x/:id/hold', 'GET /healthz']);
  });
});
