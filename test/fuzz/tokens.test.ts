// Properties of token parsing (infra/tokens.ts) over generated input: whatever a client sends as a
// bearer token, verification answers with an UnauthorizedError (the API's 401) or with claims
// that satisfy the kind's schema; it never throws anything else (which would be a 500).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { SignJWT, type JWTPayload } from 'jose';
import { Value } from 'typebox/value';
import { secretKeyId, type SecretRing } from '../../infra/config.ts';
import { UnauthorizedError } from '../../lib/errors.ts';
import { bearer, mintToken, TOKEN_KINDS, verifyToken, type ClaimsOf, type TokenKind } from '../../infra/tokens.ts';

const RUNS = 300;
const KINDS = Object.keys(TOKEN_KINDS) as TokenKind[];
const ring: SecretRing = { current: randomBytes(32), previous: [randomBytes(32)] };
const kind = fc.constantFrom(...KINDS);

const VALID: { [K in TokenKind]: ClaimsOf<K> } = {
  et: { sub: 'user-1', tenant: 'acme', plan: 'free' },
  sat: { sub: 'user-1', tenant: 'acme', plan: 'free', template: 'hello', template_version: '1', track: 'intro', retention_days: 7, jti: 'fuzz-0001-abcdef' },
  operator: { sub: 'ops', role: 'operator' },
  completion: { sub: 'scn-fuzz-0001' },
  receipt: { sub: 'rcpt-1', tenant: 'acme', plan: 'pro' },
  access: { sub: 'user-1', tenant: 'acme', scn: 'scn-0001' },
  relay: { sub: 'subject:user-1', scn: 'scn-0001', host: 'local', act: 'exec', svc: 'main', user: '1000:1000', rec: 1024, max: 1 },
};

/** Resolves to the verified claims, or to the error when it is an UnauthorizedError; anything else fails the property. */
async function outcome(k: TokenKind, token: string): Promise<{ claims: Record<string, unknown> } | { error: UnauthorizedError }> {
  try {
    const { claims } = await verifyToken(k, token, ring);
    return { claims };
  } catch (err) {
    assert.ok(err instanceof UnauthorizedError, `verifyToken threw ${String(err)} for ${JSON.stringify(token).slice(0, 200)}`);
    assert.equal(err.statusCode, 401);
    return { error: err };
  }
}

const anyJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.double(),
    fc.integer(),
    fc.string({ unit: 'binary' }),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('__proto__', 'toString', 'kid', 'alg', 'typ', 'crit', 'b64')), tie('value'), { maxKeys: 4, noNullPrototype: false }),
  ),
})).value;
const b64json = (v: unknown) => Buffer.from(JSON.stringify(v) ?? 'undefined').toString('base64url');

void describe('verifyToken, for any string', () => {
  void it('arbitrary text is refused with an UnauthorizedError', async () => {
    await fc.assert(fc.asyncProperty(kind, fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.base64String()), async (k, s) => {
      assert.ok('error' in await outcome(k, s));
    }), { numRuns: RUNS });
  });

  void it('three dot-separated segments of arbitrary JSON and bytes are refused with an UnauthorizedError', async () => {
    const segment = fc.oneof(anyJson.map(b64json), fc.string({ unit: 'binary' }).map((s) => Buffer.from(s).toString('base64url')), fc.string());
    await fc.assert(fc.asyncProperty(kind, segment, segment, segment, async (k, h, p, s) => {
      assert.ok('error' in await outcome(k, `${h}.${p}.${s}`));
    }), { numRuns: RUNS });
  });
});

void describe('verifyToken, for a valid token mutated', () => {
  const edit = fc.oneof(
    fc.record({ op: fc.constant('replace' as const), at: fc.nat(), ch: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) }),
    fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
    fc.record({ op: fc.constant('insert' as const), at: fc.nat(), ch: fc.string({ unit: 'binary', minLength: 1, maxLength: 3 }) }),
    fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ op: fc.constant('swapSegments' as const), a: fc.nat({ max: 2 }), b: fc.nat({ max: 2 }) }),
  );

  void it('any edit is refused with an UnauthorizedError, or verifies to the very same claims', async () => {
    const tokens = await Promise.all(KINDS.map(async (k) => ({ k, token: (await mintToken(k, VALID[k] as never, ring, { ttlSeconds: 300 })).token })));
    const original = new Map(await Promise.all(tokens.map(async ({ k, token }) => [k, (await verifyToken(k, token, ring)).claims] as const)));
    await fc.assert(fc.asyncProperty(fc.constantFrom(...tokens), fc.array(edit, { minLength: 1, maxLength: 3 }), async ({ k, token }, edits) => {
      let t = token;
      for (const e of edits) {
        const i = t.length ? ('at' in e ? e.at % t.length : 0) : 0;
        if (e.op === 'replace') t = t.slice(0, i) + e.ch + t.slice(i + 1);
        else if (e.op === 'delete') t = t.slice(0, i) + t.slice(i + 1);
        else if (e.op === 'insert') t = t.slice(0, i) + e.ch + t.slice(i);
        else if (e.op === 'truncate') t = t.slice(0, i);
        else {
          const parts = t.split('.');
          if (parts.length === 3) {
            [parts[e.a], parts[e.b]] = [parts[e.b]!, parts[e.a]!];
            t = parts.join('.');
          }
        }
      }
      const result = await outcome(k, t);
      // base64url has spare bits in its last character: such an edit decodes to the same bytes.
      if ('claims' in result) assert.deepEqual(result.claims, original.get(k));
    }), { numRuns: RUNS * 3 });
  });

  void it('a token of one kind is refused as every other kind', async () => {
    await fc.assert(fc.asyncProperty(kind, kind, async (minted, asked) => {
      fc.pre(minted !== asked);
      const { token } = await mintToken(minted, VALID[minted] as never, ring, { ttlSeconds: 300 });
      assert.ok('error' in await outcome(asked, token));
    }), { numRuns: 50 });
  });

  void it('a token signed with the right key but arbitrary headers and claims verifies only with claims its kind allows', async () => {
    const now = Math.floor(Date.now() / 1000);
    // Mostly right, sometimes anything: each field is valid five times out of six.
    const mostly = <T>(valid: T) => fc.oneof({ weight: 5, arbitrary: fc.constant(valid) }, { weight: 1, arbitrary: anyJson });
    const registered = (k: TokenKind) => fc.record({
      iss: mostly(TOKEN_KINDS[k].iss),
      aud: fc.oneof(mostly(TOKEN_KINDS[k].aud), fc.constant([TOKEN_KINDS[k].aud, 'other'])),
      iat: mostly(now),
      nbf: mostly(now),
      exp: fc.oneof(mostly(now + 60), fc.constant(now + 100_000), fc.constant(now - 60)),
      jti: mostly('fuzz-jti-0001'),
    }, { requiredKeys: ['iss', 'aud', 'iat', 'nbf', 'exp', 'jti'] });
    // A computed "__proto__" is an own member (a literal one would set the prototype instead).
    const claimsFor = (k: TokenKind) => {
      const model: Record<string, fc.Arbitrary<unknown>> = { ...Object.fromEntries(Object.entries(VALID[k]).map(([name, v]) => [name, mostly(v)])), extra: anyJson, ['__proto__']: anyJson };
      return fc.record(model, { requiredKeys: Object.keys(VALID[k]) });
    };
    const header = (k: TokenKind) => fc.record({
      typ: mostly(TOKEN_KINDS[k].typ),
      kid: fc.oneof(mostly(secretKeyId(ring.current)), fc.constant(secretKeyId(ring.previous[0]!))),
      crit: fc.option(anyJson, { nil: undefined, freq: 10 }),
    }, { requiredKeys: ['typ', 'kid'] });
    const seen = { accepted: 0, refused: 0 };
    await fc.assert(fc.asyncProperty(kind.chain((k) => fc.tuple(fc.constant(k), header(k), claimsFor(k), registered(k))), async ([k, h, claims, reg]) => {
      let token: string;
      try {
        token = await new SignJWT({ ...claims, ...reg } as JWTPayload)
          .setProtectedHeader({ ...(h as Record<string, unknown>), alg: 'HS256' })
          .sign(ring.current);
      } catch {
        // jose refuses to sign some headers (a bad crit): nothing a client could send either way.
        return;
      }
      const result = await outcome(k, token);
      seen['claims' in result ? 'accepted' : 'refused']++;
      if ('claims' in result) assert.ok(Value.Check(TOKEN_KINDS[k].schema, result.claims), `claims outside the ${k} schema were accepted: ${JSON.stringify(result.claims)}`);
    }), { numRuns: RUNS * 2 });
    // Both sides of the property were exercised: some generated tokens are valid, most are not.
    assert.ok(seen.accepted > 0 && seen.refused > 0, JSON.stringify(seen));
  });
});

void describe('bearer, for any Authorization header', () => {
  void it('returns a token without whitespace, or nothing, and never throws', () => {
    fc.assert(fc.property(fc.option(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string().map((s) => `Bearer ${s}`)), { nil: undefined }), (h) => {
      const token = bearer(h);
      if (token !== undefined) assert.match(token, /^\S+$/);
    }), { numRuns: RUNS * 3 });
  });
});
