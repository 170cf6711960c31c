// Bearer-token authentication. A route declares which token kinds it accepts; the token's `typ`
// header selects the verifier, and each verifier pins its own audience and secret.
import fp from 'fastify-plugin';
import { decodeProtectedHeader } from 'jose';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../../lib/config.ts';
import { UnauthorizedError } from '../../lib/errors.ts';
import { bearer, completionRing, TOKEN_KINDS, verifyToken, type EtClaims, type SatClaims, type TokenKind } from '../../lib/tokens.ts';

export type Principal =
  | { kind: 'et'; sub: string; tenant: string; plan: string; claims: EtClaims }
  | { kind: 'sat'; sub: string; tenant: string; claims: SatClaims & { jti: string; exp: number } }
  | { kind: 'operator'; sub: string }
  | { kind: 'completion'; scenarioId: string };

declare module 'fastify' {
  interface FastifyInstance {
    authenticate(request: FastifyRequest, accepted: readonly TokenKind[], scenarioId?: string): Promise<Principal>;
  }
}

const kindByTyp = new Map<string, TokenKind>(Object.entries(TOKEN_KINDS).map(([kind, spec]) => [spec.typ, kind as TokenKind]));

export default fp(async function auth(app: FastifyInstance, opts: { config: Config }) {
  const ring = (name: 'ET_HMAC_SECRET' | 'SAT_HMAC_SECRET' | 'OPERATOR_HMAC_SECRET' | 'COMPLETION_HMAC_SECRET') => {
    const r = opts.config.secrets[name];
    if (!r) throw new Error(`${name} is not configured`);
    return r;
  };
  app.decorate('authenticate', async (request: FastifyRequest, accepted: readonly TokenKind[], scenarioId?: string): Promise<Principal> => {
    const token = bearer(request.headers.authorization);
    if (!token) throw new UnauthorizedError('a bearer token is required', 'token_missing');
    let typ: string | undefined;
    try {
      typ = decodeProtectedHeader(token).typ;
    } catch {
      throw new UnauthorizedError('token is not a JWT', 'token_invalid');
    }
    const kind = typ ? kindByTyp.get(typ) : undefined;
    if (!kind || !accepted.includes(kind)) {
      throw new UnauthorizedError(`this route takes ${accepted.join(' or ')} tokens`, 'token_wrong_kind');
    }
    switch (kind) {
      case 'et': {
        const { claims } = await verifyToken('et', token, ring('ET_HMAC_SECRET'));
        return { kind, sub: claims.sub, tenant: claims.tenant, plan: claims.plan, claims };
      }
      case 'sat': {
        const { claims } = await verifyToken('sat', token, ring('SAT_HMAC_SECRET'));
        return { kind, sub: claims.sub, tenant: claims.tenant, claims };
      }
      case 'operator': {
        const { claims } = await verifyToken('operator', token, ring('OPERATOR_HMAC_SECRET'));
        return { kind, sub: claims.sub };
      }
      case 'completion': {
        // Completion keys are derived per scenario: without the id from the path there is no key.
        if (!scenarioId) throw new UnauthorizedError('completion tokens are only valid for their scenario', 'token_invalid');
        const { claims } = await verifyToken('completion', token, completionRing(ring('COMPLETION_HMAC_SECRET'), scenarioId));
        if (claims.sub !== scenarioId) throw new UnauthorizedError('completion token is for another scenario', 'token_invalid');
        return { kind, scenarioId };
      }
    }
  });
}, { name: 'arbiter-auth' });
