// Bearer-token authentication, declared by each route: `config: { auth: ['sat', 'operator'] }`
// lists the token kinds it accepts, and the one hook below verifies the token and puts the caller
// on `request.principal` before any handler runs. A route that declares nothing takes no token.
// The token's `typ` header selects the verifier, and each verifier pins its own audience and
// secret. A valid token of a kind the route does not take is authenticated but not authorized:
// 403, not 401.
import fp from 'fastify-plugin';
import { decodeProtectedHeader } from 'jose';
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import type { Config, SecretName, SecretRing } from '../../infra/config.ts';
import { ForbiddenError, UnauthorizedError } from '../../lib/errors.ts';
import { accessRing, bearer, completionRing, TOKEN_KINDS, verifyToken, type EtClaims, type SatClaims, type TokenKind } from '../../infra/tokens.ts';

export type Principal =
  | { kind: 'et'; sub: string; tenant: string; claims: EtClaims & { jti: string; iat: number } }
  | { kind: 'sat'; sub: string; tenant: string; claims: SatClaims & { jti: string; exp: number } }
  | { kind: 'operator'; sub: string }
  | { kind: 'completion'; scenarioId: string }
  | { kind: 'access'; sub: string; tenant: string; scenarioId: string };

/** Receipts go to billing and relay tokens to container hosts: neither is an API bearer. */
export type BearerKind = Exclude<TokenKind, 'receipt' | 'relay'>;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** the token kinds this route accepts (plugins/auth.ts); absent: the route takes no token */
    auth?: readonly BearerKind[];
  }
  interface FastifyRequest {
    /** the verified caller of a route that declares `auth` */
    principal: Principal | undefined;
  }
  interface FastifyInstance {
    /**
     * Verifies a token that did not come in an Authorization header (a WebSocket's first frame),
     * exactly as a route declaring `accepted` would.
     */
    authenticateToken(token: string, accepted: readonly BearerKind[], scenarioId: string | undefined): Promise<Principal>;
  }
}

/**
 * The caller of a route that declared `auth`, narrowed to the kinds the handler handles. The hook
 * has already refused every other kind, so a mismatch here is a route whose declaration and
 * handler disagree: a bug, answered 500.
 */
export function principalOf<K extends Principal['kind']>(request: FastifyRequest, ...kinds: K[]): Extract<Principal, { kind: K }> {
  const p = request.principal;
  if (!p || !(kinds as string[]).includes(p.kind)) throw new Error(`route ${request.routeOptions.url ?? '?'} declares auth that its handler does not handle`);
  return p as Extract<Principal, { kind: K }>;
}

/** The token kinds a route declared, for its OpenAPI operation. */
export function declaredAuth(config: unknown): readonly BearerKind[] | undefined {
  return (config as { auth?: readonly BearerKind[] } | undefined)?.auth;
}

const kindByTyp = new Map<string, TokenKind>(Object.entries(TOKEN_KINDS).map(([kind, spec]) => [spec.typ, kind as TokenKind]));
const SECRET_OF: Record<BearerKind, SecretName> = {
  et: 'ET_HMAC_SECRET',
  sat: 'SAT_HMAC_SECRET',
  operator: 'OPERATOR_HMAC_SECRET',
  completion: 'COMPLETION_HMAC_SECRET',
  access: 'SAT_HMAC_SECRET',
};

export default fp(async function auth(app: FastifyInstance, opts: { config: Config }) {
  const ring = (kind: BearerKind): SecretRing => {
    const r = opts.config.secrets[SECRET_OF[kind]];
    if (!r) throw new Error(`${SECRET_OF[kind]} is not configured`);
    return r;
  };

  async function verifyAs(kind: BearerKind, token: string, scenarioId: string | undefined): Promise<Principal> {
    switch (kind) {
      case 'et': {
        const { claims } = await verifyToken('et', token, ring('et'));
        return { kind, sub: claims.sub, tenant: claims.tenant, claims };
      }
      case 'sat': {
        const { claims } = await verifyToken('sat', token, ring('sat'));
        return { kind, sub: claims.sub, tenant: claims.tenant, claims };
      }
      case 'operator': {
        const { claims } = await verifyToken('operator', token, ring('operator'));
        return { kind, sub: claims.sub };
      }
      case 'completion': {
        // Completion keys are derived per scenario: without the id from the path there is no key.
        if (!scenarioId) throw new UnauthorizedError('completion tokens are only valid for their scenario', 'token_invalid');
        const { claims } = await verifyToken('completion', token, completionRing(ring('completion'), scenarioId));
        if (claims.sub !== scenarioId) throw new UnauthorizedError('completion token is for another scenario', 'token_invalid');
        return { kind, scenarioId };
      }
      case 'access': {
        const { claims } = await verifyToken('access', token, accessRing(ring('access')));
        return { kind, sub: claims.sub, tenant: claims.tenant, scenarioId: claims.scn };
      }
    }
  }

  async function authenticate(request: FastifyRequest, accepted: readonly BearerKind[]): Promise<Principal> {
    const token = bearer(request.headers.authorization);
    if (!token) throw new UnauthorizedError('a bearer token is required', 'token_missing');
    const id = (request.params as { id?: unknown } | undefined)?.id;
    const principal = await authenticateToken(token, accepted, typeof id === 'string' ? id : undefined);
    return principal;
  }

  async function authenticateToken(token: string, accepted: readonly BearerKind[], scenarioId: string | undefined): Promise<Principal> {
    let typ: string | undefined;
    try {
      typ = decodeProtectedHeader(token).typ;
    } catch {
      throw new UnauthorizedError('token is not a JWT', 'token_invalid');
    }
    const kind = typ ? kindByTyp.get(typ) : undefined;
    if (!kind || kind === 'receipt' || kind === 'relay') throw new UnauthorizedError(`this route takes ${accepted.join(' or ')} tokens`, 'token_wrong_kind');
    const principal = await verifyAs(kind, token, scenarioId);
    if (!accepted.includes(kind)) {
      throw new ForbiddenError(`this route takes ${accepted.join(' or ')} tokens, not ${kind}`, 'token_kind_forbidden');
    }
    return principal;
  }

  app.decorateRequest('principal', undefined);
  app.decorate('authenticateToken', authenticateToken);
  // Attached to each declaring route, after the hooks that plugins registered earlier attached
  // (the rate limiter's among them), so a burst is limited before any token is verified.
  app.addHook('onRoute', (route) => {
    const accepted = declaredAuth(route.config);
    if (!accepted) return;
    const hook: onRequestAsyncHookHandler = async (request) => {
      request.principal = await authenticate(request, accepted);
    };
    const existing = route.onRequest ? (Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]) : [];
    route.onRequest = [...existing, hook];
  });
}, { name: 'arbiter-auth' });
