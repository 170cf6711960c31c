// The public verdict keys as a JWKS (RFC 8037 OKP), current and retired.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { publicJwks } from '../../infra/keys.ts';
import { Jwks } from '../schemas.ts';

const keyRoutes: FastifyPluginAsyncTypebox<{ keysDir: string }> = async (app, opts) => {
  app.get('/.well-known/arbiter/keys', { schema: { response: { 200: Jwks } } }, async (_request, reply) => {
    void reply.header('Cache-Control', 'public, max-age=300');
    return publicJwks(opts.keysDir);
  });
};
export default keyRoutes;
