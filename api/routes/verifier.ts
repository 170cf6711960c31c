// GET /verify: the browser verifier page, built once on first request (see verifier/build.ts) and
// served with the same Content-Security-Policy its own meta tag carries.
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import { buildVerifierPage, type VerifierPage } from '../verifier/build.ts';

const verifierRoutes: FastifyPluginAsync = async (app) => {
  let page: Promise<VerifierPage> | undefined;
  app.get('/verify', {
    schema: {
      summary: 'The browser verifier: checks a verdict offline, in the page',
      // Per response, not `produces`: that would claim HTML for the JSON errors too.
      response: { 200: { description: 'the page', content: { 'text/html': { schema: Type.String() } } } },
    },
  }, async (_request, reply) => {
    page ??= buildVerifierPage().catch((err: unknown) => {
      page = undefined;
      throw err;
    });
    const { html, csp } = await page;
    return reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('content-security-policy', csp)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-cache')
      .send(html);
  });
};
export default verifierRoutes;
