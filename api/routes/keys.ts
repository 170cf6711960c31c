// The public verdict keys as a JWKS (RFC 8037 OKP), current and retired.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { JWKS_KEY, publicJwks, type Jwks as JwksValue } from '../../infra/keys.ts';
import type { ArtifactStore } from '../../infra/artifact-store.ts';
import { Jwks } from '../schemas.ts';

const keyRoutes: FastifyPluginAsyncTypebox<{ keysDir: string; store: ArtifactStore }> = async (app, opts) => {
  app.get('/.well-known/arbiter/keys', { schema: { response: { 200: Jwks } } }, async (_request, reply) => {
    void reply.header('Cache-Control', 'public, max-age=300');
    // With a shared store the API need not hold the key folder: the workers publish the JWKS there.
    if (opts.store.remote) {
      const stored = await opts.store.get(JWKS_KEY);
      return stored ? JSON.parse(stored.toString('utf8')) as JwksValue : { keys: [] };
    }
    return publicJwks(opts.keysDir);
  });
};
export default keyRoutes;
