// POST /api/sat: an entitlement token buys a spawn authorization token; the rules are the use
// case's (api/services/sat-issuance.ts).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Config } from '../../infra/config.ts';
import type { Plans } from '../../infra/plans.ts';
import { issueSat } from '../services/sat-issuance.ts';
import { ErrorBody, SatRequest, SatResponse } from '../schemas.ts';
import { principalOf } from '../plugins/auth.ts';

const satRoutes: FastifyPluginAsyncTypebox<{ config: Config; plans: Plans; templatesDir: string }> = async (app, { config, plans, templatesDir }) => {
  const deps = { config, plans, templatesDir, entitlements: app.entitlements };
  app.post('/api/sat', {
    config: { auth: ['et'] },
    schema: { body: SatRequest, response: { 201: SatResponse, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 503: ErrorBody } },
  }, async (request, reply) => {
    const issued = await issueSat(deps, principalOf(request, 'et'), request.body, request.headers['x-plan'], request.log);
    return reply.status(201).send(issued);
  });
};
export default satRoutes;
