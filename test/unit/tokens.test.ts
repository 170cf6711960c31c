// Token minting and verification (infra/tokens.ts) and secret key ids (infra/config.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { SignJWT, type JWTPayload } from 'jose';
import { secretKeyId, type SecretRing } from '../../infra/config.ts';
import {
  bearer,
  completionRing,
  mintToken,
  SAT_MAX_TTL_SECONDS,
  TOKEN_KINDS,
  verifyToken,
  type ClaimsOf,
  type TokenKind,
} from '../../infra/tokens.ts';
import { newRing, rejectsUnauthorized } from './helpers.ts';

const CLAIMS: { [K in TokenKind]: ClaimsOf<K> } = {
  et: { sub: 'user-1', tenant: 'acme', plan: 'free' },
  sat: {
    sub: 'user-1', tenant: 'acme', plan: 'free', template: 'hello', template_version: '1', track: 'intro',
    retention_days: 30, jti: 'sat-0001-abcdef',
  },
  operator: { sub: 'ops-1', role: 'operator' },
  completion: { sub: 'scn-0001' },
  receipt: { sub: 'rcpt-0001', tenant: 'acme', plan: 'pro' },
  access: { sub: 'user-1', tenant: 'acme', scn: 'scn-0001' },
  relay: { sub: 'subject:user-1', scn: 'scn-0001', host: 'local', act: 'exec', svc: 'main', user: '1000:1000', rec: 1024, max: 1 },
};
const KINDS = Object.keys(TOKEN_KINDS) as TokenKind[];

/** Claims that satisfy every kind's schema, so a rejection can only come from aud/typ/iss. */
const ALL_CLAIMS = { ...CLAIMS.et, ...CLAIMS.sat, ...CLAIMS.operator, ...CLAIMS.completion, ...CLAIMS.access, ...CLAIMS.relay, sub: 'user-1' };

const b64u = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A token signed with jose directly, with every header field and claim under the test's control. */
async function craft(
  secret: Buffer,
  header: Record<string, unknown>,
  payload: JWTPayload,
): Promise<string> {
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'HS256', kid: secretKeyId(secret), ...header })
    .sign(secret);
}

/** A complete, valid payload for `kind`, before any test-specific change. */
function fullPayload(kind: TokenKind, over: JWTPayload = {}): JWTPayload {
  const t = nowSeconds();
  return {
    ...CLAIMS[kind],
    iss: TOKEN_KINDS[kind].iss,
    aud: TOKEN_KINDS[kind].aud,
    iat: t,
    nbf: t,
    exp: t + 60,
    jti: 'crafted-0001',
    ...over,
  };
}

void describe('mintToken / verifyToken roundtrip', () => {
  for (const kind of KINDS) {
    void it(`when a ${kind} token is minted and verified with the same ring, its claims come back`, async () => {
      const ring = newRing();

      const minted = await mintToken(kind, CLAIMS[kind], ring, { ttlSeconds: 120 });
      const verified = await verifyToken(kind, minted.token, ring);

      for (const [k, v] of Object.entries(CLAIMS[kind])) assert.deepEqual((verified.claims as Record<string, unknown>)[k], v);
      assert.equal(verified.claims.jti, minted.jti);
      assert.equal(verified.claims.exp - verified.claims.iat, 120);
      assert.equal(verified.claims.exp * 1000, minted.expiresAt.getTime());
      assert.equal(verified.kid, secretKeyId(ring.current));
    });
  }

  void it('when a SAT carries its own jti, the minted token uses it', async () => {
    const ring = newRing();

    const minted = await mintToken('sat', CLAIMS.sat, ring, { ttlSeconds: 60 });

    assert.equal(minted.jti, CLAIMS.sat.jti);
    assert.equal((await verifyToken('sat', minted.token, ring)).claims.jti, CLAIMS.sat.jti);
  });

  void it('when two tokens are minted without a jti, they get different jtis', async () => {
    const ring = newRing();

    const a = await mintToken('et', CLAIMS.et, ring, { ttlSeconds: 60 });
    const b = await mintToken('et', CLAIMS.et, ring, { ttlSeconds: 60 });

    assert.notEqual(a.jti, b.jti);
  });

  void it('when a token is minted, its header pins HS256, the kind\'s typ and the secret\'s kid', async () => {
    const ring = newRing();

    const { token } = await mintToken('operator', CLAIMS.operator, ring, { ttlSeconds: 60 });
    const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;

    assert.deepEqual(header, { alg: 'HS256', typ: TOKEN_KINDS.operator.typ, kid: secretKeyId(ring.current) });
  });
});

void describe('verifyToken: time', () => {
  void it('when a token was minted an hour ago with a 60 s lifetime, verify rejects it with token_expired', async () => {
    const ring = newRing();
    const { token } = await mintToken('et', CLAIMS.et, ring, { ttlSeconds: 60, now: new Date(Date.now() - 3600_000) });

    await rejectsUnauthorized(verifyToken('et', token, ring), 'token_expired');
  });

  void it('when a token is minted an hour in the future, verify rejects it as not yet valid with token_invalid', async () => {
    const ring = newRing();
    const { token } = await mintToken('et', CLAIMS.et, ring, { ttlSeconds: 7200, now: new Date(Date.now() + 3600_000) });

    await rejectsUnauthorized(verifyToken('et', token, ring), 'token_invalid', /nbf/);
  });

  for (const kind of KINDS) {
    void it(`when a ${kind} token is already valid (nbf now) but claims to be issued an hour from now, verify rejects it with token_invalid naming iat`, async () => {
      const ring = newRing();
      const t = nowSeconds();
      const token = await craft(ring.current, { typ: TOKEN_KINDS[kind].typ }, fullPayload(kind, { iat: t + 3600, nbf: t, exp: t + 3660 }));

      await rejectsUnauthorized(verifyToken(kind, token, ring), 'token_invalid', /"iat".*future/);
    });
  }

  void it('when a token claims to be issued 3 s from now, the 5 s clock tolerance still accepts it; 30 s from now it is refused', async () => {
    const ring = newRing();
    const t = nowSeconds();
    const soon = await craft(ring.current, { typ: TOKEN_KINDS.et.typ }, fullPayload('et', { iat: t + 3, nbf: t, exp: t + 60 }));
    const later = await craft(ring.current, { typ: TOKEN_KINDS.et.typ }, fullPayload('et', { iat: t + 30, nbf: t, exp: t + 60 }));

    await verifyToken('et', soon, ring);
    await rejectsUnauthorized(verifyToken('et', later, ring), 'token_invalid', /"iat"/);
  });

  void it('when verify is given a `now` inside the token\'s lifetime, a token minted at that time verifies', async () => {
    const ring = newRing();
    const then = new Date('2020-01-01T00:00:00Z');
    const { token } = await mintToken('operator', CLAIMS.operator, ring, { ttlSeconds: 60, now: then });

    const verified = await verifyToken('operator', token, ring, { now: new Date(then.getTime() + 30_000) });

    assert.equal(verified.claims.iat, then.getTime() / 1000);
  });

  void it('when a token expired 2 s ago, the 5 s clock tolerance still accepts it; 10 s ago it is expired', async () => {
    const ring = newRing();
    const minted = new Date('2020-01-01T00:00:00Z');
    const { token } = await mintToken('completion', CLAIMS.completion, ring, { ttlSeconds: 60, now: minted });

    await verifyToken('completion', token, ring, { now: new Date(minted.getTime() + 62_000) });
    await rejectsUnauthorized(verifyToken('completion', token, ring, { now: new Date(minted.getTime() + 70_000) }), 'token_expired');
  });
});

void describe('verifyToken: one kind cannot pass for another', () => {
  void it('when an entitlement token is verified as a SAT, it is rejected with token_invalid', async () => {
    const ring = newRing();
    const { token } = await mintToken('et', CLAIMS.et, ring, { ttlSeconds: 60 });

    await rejectsUnauthorized(verifyToken('sat', token, ring), 'token_invalid');
  });

  for (const minted of KINDS) {
    for (const expected of KINDS.filter((k) => k !== minted)) {
      void it(`when a ${minted} token whose claims satisfy every schema is verified as ${expected}, it is rejected with token_invalid`, async () => {
        const ring = newRing();
        const { token } = await mintToken(minted, ALL_CLAIMS as ClaimsOf<typeof minted>, ring, { ttlSeconds: 60 });

        await verifyToken(minted, token, ring);
        await rejectsUnauthorized(verifyToken(expected, token, ring), 'token_invalid');
      });
    }
  }

  void it('when a token has the SAT typ and issuer but the entitlement audience, it is rejected naming "aud"', async () => {
    const ring = newRing();
    const token = await craft(ring.current, { typ: TOKEN_KINDS.sat.typ }, fullPayload('sat', { aud: TOKEN_KINDS.et.aud }));

    await rejectsUnauthorized(verifyToken('sat', token, ring), 'token_invalid', /"aud"/);
  });

  void it('when a token has the SAT audience and issuer but the entitlement typ, it is rejected naming "typ"', async () => {
    const ring = newRing();
    const token = await craft(ring.current, { typ: TOKEN_KINDS.et.typ }, fullPayload('sat'));

    await rejectsUnauthorized(verifyToken('sat', token, ring), 'token_invalid', /"typ"/);
  });

  void it('when a token has no typ header at all, it is rejected', async () => {
    const ring = newRing();
    const token = await craft(ring.current, {}, fullPayload('sat'));

    await rejectsUnauthorized(verifyToken('sat', token, ring), 'token_invalid');
  });

  void it('when an entitlement token is issued by "arbiter" instead of the billing issuer, it is rejected naming "iss"', async () => {
    const ring = newRing();
    const token = await craft(ring.current, { typ: TOKEN_KINDS.et.typ }, fullPayload('et', { iss: 'arbiter' }));

    await rejectsUnauthorized(verifyToken('et', token, ring), 'token_invalid', /"iss"/);
  });

  void it('when the control token (all fields right) is crafted the same way, it verifies', async () => {
    const ring = newRing();
    const token = await craft(ring.current, { typ: TOKEN_KINDS.sat.typ }, fullPayload('sat'));

    const verified = await verifyToken('sat', token, ring);

    assert.equal(verified.claims.tenant, CLAIMS.sat.tenant);
  });
});

void describe('verifyToken: signature and algorithm', () => {
  void it('when a token is unsigned (alg "none") but otherwise valid, it is rejected with token_invalid', async () => {
    const ring = newRing();
    const header = { alg: 'none', typ: TOKEN_KINDS.sat.typ, kid: secretKeyId(ring.current) };
    const token = `${b64u(header)}.${b64u(fullPayload('sat'))}.`;

    await rejectsUnauthorized(verifyToken('sat', token, ring), 'token_invalid');
  });

  void it('when a token is signed with HS512 under the right secret and kid, it is rejected (HS256 is pinned)', async () => {
    const ring = newRing();
    const token = await craft(ring.current, { alg: 'HS512', typ: TOKEN_KINDS.sat.typ }, fullPayload('sat'));

    await rejectsUnauthorized(verifyToken('sat', token, ring), 'token_invalid');
  });

  void it('when the payload of a valid token is changed and the signature kept, it is rejected with token_invalid', async () => {
    const ring = newRing();
    const { token } = await mintToken('et', CLAIMS.et, ring, { ttlSeconds: 60 });
    const [header, payload, sig] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as JWTPayload;
    const forged = `${header}.${b64u({ ...claims, plan: 'enterprise' })}.${sig}`;

    await rejectsUnauthorized(verifyToken('et', forged, ring), 'token_invalid');
  });

  void it('when one character of the signature is changed, the token is rejected with token_invalid', async () => {
    const ring = newRing();
    const { token } = await mintToken('et', CLAIMS.et, ring, { ttlSeconds: 60 });
    const last = token.at(-2) === 'A' ? 'B' : 'A';
    const forged = `${token.slice(0, -2)}${last}${token.at(-1)!}`;

    await rejectsUnauthorized(verifyToken('et', forged, ring), 'token_invalid');
  });

  void it('when a token\'s kid names no secret of the ring, it is rejected with token_invalid', async () => {
    const ring = newRing();
    const stranger = randomBytes(32);
    const token = await craft(stranger, { typ: TOKEN_KINDS.sat.typ }, fullPayload('sat'));

    await rejectsUnauthorized(verifyToken('sat', token, ring), 'token_invalid', /key id/);
  });

  void it('when a token signed by another secret claims the ring\'s kid, the signature check rejects it', async () => {
    const ring = newRing();
    const token = await craft(randomBytes(32), { typ: TOKEN_KINDS.sat.typ, kid: secretKeyId(ring.current) }, fullPayload('sat'));

    await rejectsUnauthorized(verifyToken('sat', token, ring), 'token_invalid');
  });

  void it('when a token has no kid, it is rejected with token_invalid', async () => {
    const ring = newRing();
    const token = await new SignJWT(fullPayload('sat')).setProtectedHeader({ alg: 'HS256', typ: TOKEN_KINDS.sat.typ }).sign(ring.current);

    await rejectsUnauthorized(verifyToken('sat', token, ring), 'token_invalid');
  });

  void it('when the input is not a JWT at all, it is rejected with token_invalid', async () => {
    await rejectsUnauthorized(verifyToken('et', 'not-a-jwt', newRing()), 'token_invalid');
  });
});

void describe('verifyToken: rotation', () => {
  void it('when the secret rotated and the old one is listed in `previous`, a token signed with the old one verifies under its kid', async () => {
    const old = newRing();
    const { token } = await mintToken('operator', CLAIMS.operator, old, { ttlSeconds: 60 });
    const rotated: SecretRing = { current: randomBytes(32), previous: [old.current] };

    const verified = await verifyToken('operator', token, rotated);

    assert.equal(verified.kid, secretKeyId(old.current));
    assert.equal(verified.claims.sub, CLAIMS.operator.sub);
  });

  void it('when the secret rotated and the old one is no longer listed, a token signed with it is rejected', async () => {
    const old = newRing();
    const { token } = await mintToken('operator', CLAIMS.operator, old, { ttlSeconds: 60 });
    const rotated: SecretRing = { current: randomBytes(32), previous: [] };

    await rejectsUnauthorized(verifyToken('operator', token, rotated), 'token_invalid');
  });

  void it('when the secret rotated, new tokens are signed with the new current secret', async () => {
    const old = newRing();
    const rotated: SecretRing = { current: randomBytes(32), previous: [old.current] };

    const { token } = await mintToken('operator', CLAIMS.operator, rotated, { ttlSeconds: 60 });

    assert.equal((await verifyToken('operator', token, rotated)).kid, secretKeyId(rotated.current));
    await rejectsUnauthorized(verifyToken('operator', token, old), 'token_invalid');
  });
});

void describe('verifyToken: claims', () => {
  void it('when a SAT lives longer than 600 s, it is rejected with token_invalid even though it is signed correctly', async () => {
    const ring = newRing();
    const { token } = await mintToken('sat', CLAIMS.sat, ring, { ttlSeconds: SAT_MAX_TTL_SECONDS + 1 });

    await rejectsUnauthorized(verifyToken('sat', token, ring), 'token_invalid', /lifetime/);
  });

  void it('when a SAT lives exactly 600 s, it verifies', async () => {
    const ring = newRing();
    const { token } = await mintToken('sat', CLAIMS.sat, ring, { ttlSeconds: SAT_MAX_TTL_SECONDS });

    const { claims } = await verifyToken('sat', token, ring);

    assert.equal(claims.exp - claims.iat, SAT_MAX_TTL_SECONDS);
  });

  void it('when an operator token longer than 600 s is verified, the SAT limit does not apply to it', async () => {
    const ring = newRing();
    const { token } = await mintToken('operator', CLAIMS.operator, ring, { ttlSeconds: 3600 });

    await verifyToken('operator', token, ring);
  });

  for (const claim of ['jti', 'nbf', 'iat', 'exp', 'sub', 'iss', 'aud'] as const) {
    void it(`when a completion token is signed without "${claim}", it is rejected with token_invalid naming the claim`, async () => {
      const ring = newRing();
      const payload = fullPayload('completion');
      delete payload[claim];
      const token = await craft(ring.current, { typ: TOKEN_KINDS.completion.typ }, payload);

      await rejectsUnauthorized(verifyToken('completion', token, ring), 'token_invalid', new RegExp(`"${claim}"`));
    });
  }

  void it('when an operator token has role "admin" instead of "operator", the claims schema rejects it', async () => {
    const ring = newRing();
    const token = await craft(ring.current, { typ: TOKEN_KINDS.operator.typ }, fullPayload('operator', { role: 'admin' }));

    await rejectsUnauthorized(verifyToken('operator', token, ring), 'token_invalid', /claims are invalid/);
  });

  void it('when a SAT has retention_days as a string, the claims schema rejects it', async () => {
    const ring = newRing();
    const token = await craft(ring.current, { typ: TOKEN_KINDS.sat.typ }, fullPayload('sat', { retention_days: '30' }));

    await rejectsUnauthorized(verifyToken('sat', token, ring), 'token_invalid', /retention_days/);
  });
});

void describe('completionRing', () => {
  void it('when a completion token is minted for scenario A, the ring for scenario A verifies it and the ring for B rejects it', async () => {
    const root = newRing();
    const ringA = completionRing(root, 'scn-a');
    const ringB = completionRing(root, 'scn-b');
    const { token } = await mintToken('completion', { sub: 'scn-a' }, ringA, { ttlSeconds: 60 });

    await verifyToken('completion', token, completionRing(root, 'scn-a'));
    await rejectsUnauthorized(verifyToken('completion', token, ringB), 'token_invalid');
  });

  void it('when a completion token is minted with a scenario ring, the root ring does not verify it', async () => {
    const root = newRing();
    const { token } = await mintToken('completion', { sub: 'scn-a' }, completionRing(root, 'scn-a'), { ttlSeconds: 60 });

    await rejectsUnauthorized(verifyToken('completion', token, root), 'token_invalid');
  });

  void it('when the root rotated, a token from the old root\'s scenario ring verifies through the derived previous secret', async () => {
    const oldRoot = newRing();
    const { token } = await mintToken('completion', { sub: 'scn-a' }, completionRing(oldRoot, 'scn-a'), { ttlSeconds: 60 });
    const newRoot: SecretRing = { current: randomBytes(32), previous: [oldRoot.current] };

    await verifyToken('completion', token, completionRing(newRoot, 'scn-a'));
  });

  void it('when derived, the scenario secret differs from the root and is 32 bytes', () => {
    const root = newRing();

    const derived = completionRing(root, 'scn-a');

    assert.equal(derived.current.length, 32);
    assert.ok(!derived.current.equals(root.current));
    assert.ok(!derived.current.equals(completionRing(root, 'scn-b').current));
    assert.ok(derived.current.equals(completionRing(root, 'scn-a').current));
  });
});

void describe('secretKeyId', () => {
  void it('when computed, it is "hs-" plus the first 12 hex digits of the secret\'s sha256', () => {
    const secret = Buffer.from('a'.repeat(32));

    assert.equal(secretKeyId(secret), `hs-${createHash('sha256').update(secret).digest('hex').slice(0, 12)}`);
  });

  void it('when two secrets differ, their key ids differ; the same secret always has the same id', () => {
    const a = randomBytes(32);
    const b = randomBytes(32);

    assert.notEqual(secretKeyId(a), secretKeyId(b));
    assert.equal(secretKeyId(a), secretKeyId(Buffer.from(a)));
  });

  void it('when shown, it does not contain the secret', () => {
    const secret = Buffer.from('0123456789abcdef0123456789abcdef');

    assert.ok(!secretKeyId(secret).includes('0123456789ab'));
  });
});

void describe('bearer', () => {
  const cases: Array<[string, string | undefined, string | undefined]> = [
    ['"Bearer abc.def.ghi"', 'Bearer abc.def.ghi', 'abc.def.ghi'],
    ['the scheme in lower case', 'bearer tok', 'tok'],
    ['several spaces and trailing whitespace', 'Bearer   tok  ', 'tok'],
    ['no header', undefined, undefined],
    ['an empty header', '', undefined],
    ['"Bearer" without a token', 'Bearer', undefined],
    ['"Bearer " with only a space', 'Bearer ', undefined],
    ['another scheme', 'Basic dXNlcjpwYXNz', undefined],
    ['two tokens', 'Bearer a b', undefined],
    ['no space after the scheme', 'Bearertok', undefined],
    ['leading text before the scheme', 'x Bearer tok', undefined],
  ];
  for (const [name, header, expected] of cases) {
    void it(`when the header is ${name}, it returns ${expected === undefined ? 'undefined' : `"${expected}"`}`, () => {
      assert.equal(bearer(header), expected);
    });
  }
});
