// GET /scenarios/:id: the subject's page (subject-page/build.ts), public itself, since every data
// call it makes carries the token; and GET /scenarios/assets/:file, its bundled script and
// stylesheet, named by digest. Built once on first request, like /verify.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { NotFoundError } from '../../lib/errors.ts';
import { buildSubjectPageAssets, renderSubjectPage, type SubjectPageAssets } from '../subject-page/build.ts';
import { ScenarioParams } from '../schemas.ts';

const subjectPageRoutes: FastifyPluginAsyncTypebox = async (app) => {
  let assets: Promise<SubjectPageAssets> | undefined;
  const built = () => {
    assets ??= buildSubjectPageAssets().catch((err: unknown) => {
      assets = undefined;
      throw err;
    });
    return assets;
  };

  app.get('/scenarios/:id', { schema: { params: ScenarioParams, hide: true } }, async (_request, reply) => {
    const { html, csp } = renderSubjectPage(await built());
    return reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('content-security-policy', csp)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      // the nonce is per response: a cached copy would carry a stale one
      .header('cache-control', 'no-store')
      .send(html);
  });

  app.get('/scenarios/assets/:file', {
    schema: { params: Type.Object({ file: Type.String({ pattern: '^[a-z-]+\\.[0-9a-f]{16}\\.(js|css)$' }) }), hide: true },
  }, async (request, reply) => {
    const { js, css } = await built();
    const found = [js, css].find((a) => a.name === request.params.file);
    if (!found) throw new NotFoundError(`no asset ${request.params.file}`, 'not_found');
    return reply
      .header('content-type', found.contentType)
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'public, max-age=31536000, immutable')
      .send(found.body);
  });
};
export default subjectPageRoutes;
