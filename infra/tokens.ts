// Every JWT Arbiter mints or accepts. Each kind has its own audience and `typ`, so one kind can
// never be replayed as another; verification pins HS256, requires the registered claims jose
// otherwise treats as optional, and picks the secret by `kid` so secrets rotate without downtime.
import { createHmac, randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors, type JWTPayload, type JWTHeaderParameters } from 'jose';
import { Type, type Static, type TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { secretKeyId, type SecretRing } from './config.ts';
import { UnauthorizedError } from '../lib/errors.ts';

export const ISSUER = 'arbiter';
export const BILLING_ISSUER = 'arbiter-billing';
export const SAT_MAX_TTL_SECONDS = 600;
const CLOCK_TOLERANCE_SECONDS = 5;
const REQUIRED_CLAIMS = ['iss', 'aud', 'exp', 'nbf', 'iat', 'jti', 'sub'];

export const EtClaimsSchema = Type.Object({
  sub: Type.String({ minLength: 1, maxLength: 128 }),
  tenant: Type.String({ minLength: 1, maxLength: 128 }),
  /** absent: the tenant's receipt, else the free default, decides */
  plan: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
});
export type EtClaims = Static<typeof EtClaimsSchema>;

export const SatClaimsSchema = Type.Object({
  sub: Type.String({ minLength: 1, maxLength: 128 }),
  tenant: Type.String({ minLength: 1, maxLength: 128 }),
  plan: Type.String({ minLength: 1, maxLength: 64 }),
  template: Type.String({ minLength: 1, maxLength: 64 }),
  template_version: Type.String({ minLength: 1, maxLength: 16 }),
  track: Type.String({ minLength: 1, maxLength: 64 }),
  retention_days: Type.Integer({ minimum: 0 }),
  jti: Type.String({ pattern: '^[A-Za-z0-9-]{8,64}$' }),
});
export type SatClaims = Static<typeof SatClaimsSchema>;

export const OperatorClaimsSchema = Type.Object({
  sub: Type.String({ minLength: 1, maxLength: 128 }),
  role: Type.Literal('operator'),
});
export type OperatorClaims = Static<typeof OperatorClaimsSchema>;

/** A billing receipt: billing's signed statement that a tenant bought a plan. */
export const ReceiptClaimsSchema = Type.Object({
  sub: Type.String({ minLength: 1, maxLength: 128 }),
  tenant: Type.String({ minLength: 1, maxLength: 128 }),
  plan: Type.String({ minLength: 1, maxLength: 64 }),
});
export type ReceiptClaims = Static<typeof ReceiptClaimsSchema>;

export const CompletionClaimsSchema = Type.Object({ sub: Type.String({ minLength: 1, maxLength: 128 }) });
export type CompletionClaims = Static<typeof CompletionClaimsSchema>;

/**
 * A subject's access to one running scenario (exec, files, terminal): returned by the spawn,
 * valid until the scenario's TTL ends. `scn` binds it to that scenario.
 */
export const AccessClaimsSchema = Type.Object({
  sub: Type.String({ minLength: 1, maxLength: 128 }),
  tenant: Type.String({ minLength: 1, maxLength: 128 }),
  scn: Type.String({ minLength: 1, maxLength: 128 }),
});
export type AccessClaims = Static<typeof AccessClaimsSchema>;

/**
 * The API's word to one container host that an actor may do one kind of access to one scenario,
 * as one user, with the template's recording cap: the host verifies it and records `sub`.
 */
export const RelayClaimsSchema = Type.Object({
  sub: Type.String({ minLength: 1, maxLength: 200 }),
  scn: Type.String({ minLength: 1, maxLength: 128 }),
  host: Type.String({ minLength: 1, maxLength: 64 }),
  act: Type.Union([Type.Literal('exec'), Type.Literal('files'), Type.Literal('terminal')]),
  svc: Type.String({ minLength: 1, maxLength: 64 }),
  /** the service's container (absent: the scenario's main container) */
  ctr: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  user: Type.String({ minLength: 1, maxLength: 64 }),
  /** bytes of each input and output kept in the transcript's recordings */
  rec: Type.Integer({ minimum: 0 }),
  /** terminal sessions at once */
  max: Type.Integer({ minimum: 0 }),
});
export type RelayClaims = Static<typeof RelayClaimsSchema>;

interface Kind<S extends TSchema> { typ: string; aud: string; iss: string; schema: S }

export const TOKEN_KINDS = {
  et: { typ: 'arbiter-et+jwt', aud: 'arbiter:entitlement', iss: BILLING_ISSUER, schema: EtClaimsSchema },
  sat: { typ: 'arbiter-sat+jwt', aud: 'arbiter:spawn', iss: ISSUER, schema: SatClaimsSchema },
  operator: { typ: 'arbiter-operator+jwt', aud: 'arbiter:operator', iss: ISSUER, schema: OperatorClaimsSchema },
  completion: { typ: 'arbiter-completion+jwt', aud: 'completion', iss: ISSUER, schema: CompletionClaimsSchema },
  receipt: { typ: 'arbiter-receipt+jwt', aud: 'arbiter:billing', iss: BILLING_ISSUER, schema: ReceiptClaimsSchema },
  access: { typ: 'arbiter-access+jwt', aud: 'arbiter:access', iss: ISSUER, schema: AccessClaimsSchema },
  relay: { typ: 'arbiter-relay+jwt', aud: 'arbiter:host', iss: ISSUER, schema: RelayClaimsSchema },
} as const satisfies Record<string, Kind<TSchema>>;
export type TokenKind = keyof typeof TOKEN_KINDS;
export type ClaimsOf<K extends TokenKind> = Static<(typeof TOKEN_KINDS)[K]['schema']>;

export interface Verified<K extends TokenKind> { claims: ClaimsOf<K> & { jti: string; exp: number; iat: number }; kid: string }

export async function mintToken<K extends TokenKind>(
  kind: K,
  claims: ClaimsOf<K>,
  ring: SecretRing,
  opts: { ttlSeconds: number; now?: Date; jti?: string },
): Promise<{ token: string; jti: string; expiresAt: Date }> {
  const spec = TOKEN_KINDS[kind];
  const iat = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  const exp = iat + opts.ttlSeconds;
  const jti = opts.jti ?? (claims as { jti?: string }).jti ?? randomUUID();
  const { key, kid } = hmacKey(ring.current);
  const token = await new SignJWT({ ...(claims as JWTPayload), jti })
    .setProtectedHeader({ alg: 'HS256', typ: spec.typ, kid })
    .setIssuer(spec.iss)
    .setAudience(spec.aud)
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(exp)
    .sign(await key);
  return { token, jti, expiresAt: new Date(exp * 1000) };
}

/**
 * Each secret imported once as a WebCrypto key (with its key id): jose would otherwise import the
 * raw bytes again on every sign and verify. Keyed by the secret's Buffer, which lives as long as
 * the config that holds it.
 */
const hmacKeys = new WeakMap<Buffer, { key: Promise<CryptoKey>; kid: string }>();
function hmacKey(secret: Buffer): { key: Promise<CryptoKey>; kid: string } {
  let entry = hmacKeys.get(secret);
  if (!entry) {
    entry = { key: crypto.subtle.importKey('raw', new Uint8Array(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']), kid: secretKeyId(secret) };
    hmacKeys.set(secret, entry);
  }
  return entry;
}

export async function verifyToken<K extends TokenKind>(
  kind: K,
  token: string,
  ring: SecretRing,
  opts: { now?: Date } = {},
): Promise<Verified<K>> {
  const spec = TOKEN_KINDS[kind];
  const byKid = new Map([ring.current, ...ring.previous].map((s) => { const k = hmacKey(s); return [k.kid, k.key]; }));
  let kid = '';
  try {
    const { payload } = await jwtVerify(
      token,
      (header: JWTHeaderParameters) => {
        const key = header.kid ? byKid.get(header.kid) : undefined;
        if (!key) throw new UnauthorizedError('token key id is unknown', 'token_invalid');
        kid = header.kid ?? '';
        return key;
      },
      {
        algorithms: ['HS256'],
        issuer: spec.iss,
        audience: spec.aud,
        typ: spec.typ,
        requiredClaims: REQUIRED_CLAIMS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        ...(opts.now ? { currentDate: opts.now } : {}),
      },
    );
    if (!Value.Check(spec.schema, payload)) {
      const first = Value.Errors(spec.schema, payload)[0];
      throw new UnauthorizedError(`token claims are invalid: ${first?.instancePath || '/'} ${first?.message ?? ''}`.trim(), 'token_invalid');
    }
    // jose checks iat against the clock only with maxTokenAge, which would cap every kind's
    // lifetime; a token issued in the future is refused here instead (it also dodges the SAT's
    // lifetime cap below, which is measured from iat).
    const nowSeconds = Math.floor((opts.now ?? new Date()).getTime() / 1000);
    if ((payload as JWTPayload).iat! > nowSeconds + CLOCK_TOLERANCE_SECONDS) {
      throw new UnauthorizedError('token claim "iat" is invalid: it is in the future', 'token_invalid');
    }
    if (kind === 'sat' && (payload as JWTPayload).exp! - (payload as JWTPayload).iat! > SAT_MAX_TTL_SECONDS) {
      throw new UnauthorizedError('SAT lifetime exceeds 10 minutes', 'token_invalid');
    }
    return { claims: payload as Verified<K>['claims'], kid };
  } catch (err) {
    throw toUnauthorized(err);
  }
}

function toUnauthorized(err: unknown): UnauthorizedError {
  if (err instanceof UnauthorizedError) return err;
  if (err instanceof joseErrors.JWTExpired) return new UnauthorizedError('token has expired', 'token_expired');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    return new UnauthorizedError(`token claim "${err.claim}" is invalid: ${err.reason}`, 'token_invalid');
  }
  if (err instanceof joseErrors.JOSEError) return new UnauthorizedError(`token is invalid (${err.code})`, 'token_invalid');
  return new UnauthorizedError('token is invalid', 'token_invalid');
}

/**
 * Each scenario's completion tokens are signed with a key derived from the root secret and the
 * scenario id: a token leaked from one scenario's container is worthless for any other.
 */
export function completionRing(root: SecretRing, scenarioId: string): SecretRing {
  const derive = (s: Buffer) => createHmac('sha256', s).update(`arbiter-completion:${scenarioId}`).digest();
  return { current: derive(root.current), previous: root.previous.map(derive) };
}

/**
 * Access tokens are signed with a key derived from the SAT secret: no new secret to deploy, and
 * a leaked access token verifies as nothing else.
 */
export function accessRing(sat: SecretRing): SecretRing {
  const derive = (s: Buffer) => createHmac('sha256', s).update('arbiter-access').digest();
  return { current: derive(sat.current), previous: sat.previous.map(derive) };
}

/** The bearer token of an Authorization header, or undefined when there is none. */
export function bearer(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}
