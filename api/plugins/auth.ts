// Bearer-token authentication. A route declares which token kinds it accepts; the token's `typ`
// header selects the verifier, and each verifier pins its own audience and secret. A valid token
// of a kind the route does not take is authenticated but not authorized: 403, not 401.
import fp from 'fastify-plugin';
import { decodeProtectedHeader } from 'jose';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config, SecretName, SecretRing } from '../../lib/config.ts';
import { ForbiddenError, UnauthorizedError } from '../../lib/errors.ts';
import { bearer, completionRing, TOKEN_KINDS, verifyToken, type EtClaims, type SatClaims, type TokenKind } from '../../lib/tokens.ts';

export type Principal =
  | { kind: 'et'; sub: string; tenant: string; claims: EtClaims & { jti: string; iat: number } }
  | { kind: 'sat'; sub: string; tenant: string; claims: SatClaims & { jti: string; exp: number } }
  | { kind: 'operator'; sub: string }
  | { kind: 'completion'; scenarioId: string };

type BearerKind = Exclude<TokenKind, 'receipt'>;

declare module 'fastify' {
  interface FastifyInstance {
    authenticate(request: FastifyRequest, accepted: readonly BearerKind[], scenarioId?: string): Promise<Principal>;
  }
}

const kindByTyp = new Map<string, TokenKind>(Object.entries(TOKEN_KINDS).map(([kind, spec]) => [spec.typ, kind as TokenKind]));
const SECRET_OF: Record<BearerKind, SecretName> = {
  et: 'ET_HMAC_SECRET',
  sat: 'SAT_HMAC_SECRET',
  operator: 'OPERATOR_HMAC_SECRET',
  completion: 'COMPLETION_HMAC_SECRET',
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
    }
  }

  app.decorate('authenticate', async (request: FastifyRequest, accepted: readonly BearerKind[], scenarioId?: string): Promise<Principal> => {
    const token = bearer(request.headers.authorization);
    if (!token) throw new UnauthorizedError('a bearer token is required', 'token_missing');
    let typ: string | undefined;
    try {
      typ = decodeProtectedHeader(token).typ;
    } catch {
      throw new UnauthorizedError('token is not a JWT', 'token_invalid');
    }
    const kind = typ ? kindByTyp.get(typ) : undefined;
    if (!kind || kind === 'receipt') throw new UnauthorizedError(`this route takes ${accepted.join(' or ')} tokens`, 'token_wrong_kind');
    const principal = await verifyAs(kind, token, scenarioId);
    if (!accepted.includes(kind)) {
      request.log.info({ kind, accepted }, 'valid token of a kind this route does not take');
      throw new ForbiddenError(`this route takes ${accepted.join(' or ')} tokens, not ${kind}`, 'token_kind_forbidden');
    }
    return principal;
  });
}, { name: 'arbiter-auth' });
