// Operator-only retention routes: hold and release a scenario's artifacts, sweep what is due.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { ErrorBody, HoldRequest, ScenarioParams, SweepRequest, SweepResponse } from '../schemas.ts';
import { principalOf } from '../plugins/auth.ts';

const retentionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  /** Any other valid token is authenticated but not authorized: 403 (see plugins/auth.ts). */
  const operator = (request: FastifyRequest): string => `operator:${principalOf(request, 'operator').sub}`;
  const hold = {
    config: { auth: ['operator'] as const },
    schema: {
      params: ScenarioParams,
      body: HoldRequest,
      response: { 204: Type.Null(), 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
    },
    // The body (a reason) is optional: a bare POST or DELETE is an empty one, not a bad one.
    preValidation: async (request: FastifyRequest) => {
      if (request.body === undefined || request.body === null) request.body = {};
    },
  };

  // Holds and releases are audited by the retention workflow itself (scenario and operator logs),
  // so one sent as a signal from the Temporal UI is recorded the same way as one sent here.
  app.post('/api/scenarios/:id/hold', hold, async (request, reply) => {
    const actor = operator(request);
    await app.retention.hold(request.params.id, actor, request.body.reason);
    request.log.info({ scenarioId: request.params.id, actor }, 'retention hold placed');
    return reply.status(204).send(null);
  });

  app.delete('/api/scenarios/:id/hold', hold, async (request, reply) => {
    const actor = operator(request);
    await app.retention.release(request.params.id, actor, request.body.reason);
    request.log.info({ scenarioId: request.params.id, actor }, 'retention hold released');
    return reply.status(204).send(null);
  });

  app.post('/api/retention/sweep', {
    config: { auth: ['operator'] },
    schema: { body: SweepRequest, response: { 200: SweepResponse, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody } },
  }, async (request) => {
    const actor = operator(request);
    const { dryRun } = request.body;
    // A dry run changes nothing, not even the audit log; a real sweep is recorded before it acts.
    if (!dryRun) await app.operatorAudit({ actor, action: 'retention.sweep', data: { correlationId: request.id } });
    const result = await app.retention.sweep(dryRun, actor, request.id);
    request.log.info({ actor, ...result }, 'retention sweep');
    return result;
  });
};
export default retentionRoutes;
