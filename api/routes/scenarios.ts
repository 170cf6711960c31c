// Spawn and the per-scenario routes. Each declares the token kinds it takes (plugins/auth.ts);
// each handler checks that the caller may act on this scenario and hands the rest to the app's
// services (`app.scenarios`, `app.spawn`: api/services/index.ts).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { WorkflowNotFoundError } from '@temporalio/client';
import { ConflictError, ForbiddenError } from '../../lib/errors.ts';
import { TERMINAL_STATUSES, type ScenarioState } from '../../contract/scenario.ts';
import { scenarioNotFound } from '../services/scenarios.ts';
import type { RetentionView } from '../services/retention.ts';
import { principalOf, type Principal } from '../plugins/auth.ts';
import type { Config } from '../../infra/config.ts';
import type { Plans } from '../../infra/plans.ts';
import { accessRing, mintToken } from '../../infra/tokens.ts';
import { CompleteRequest, ErrorBody, ScenarioParams, ScenarioView, SpawnRequest, SpawnResponse, StatusBody, VerdictResponse } from '../schemas.ts';

/** The subject who spawned a scenario (by SAT or ET of the same subject and tenant) or an operator. */
function mayRead(p: Principal, s: ScenarioState): boolean {
  if (p.kind === 'operator') return true;
  if (p.kind === 'access') return p.scenarioId === s.scenarioId && p.sub === s.subject && p.tenant === s.tenant;
  if (p.kind === 'sat' || p.kind === 'et') return p.sub === s.subject && p.tenant === s.tenant;
  return false;
}

/**
 * What a caller sees of a scenario. An investigation hold is the operators' business: the subject
 * learns that the artifacts are held, not who holds them or why.
 */
function viewFor(p: Principal, state: ScenarioState & { retention?: RetentionView }) {
  const { completionDigest: _internal, ...view } = state;
  if (p.kind === 'operator' || !view.retention?.hold) return view;
  const { hold: _operatorsOnly, ...retention } = view.retention;
  return { ...view, retention };
}

/** The scenario's subject (SAT, or an ET of the same subject and tenant) or an operator. */
const OWNER_OR_OPERATOR = ['sat', 'et', 'access', 'operator'] as const;

/** A scenario may wait this long to launch before its TTL starts; the access token covers it. */
const LAUNCH_ALLOWANCE_SECONDS = 300;

export interface ScenarioRouteOptions { config: Config; plans: Plans }

const scenarioRoutes: FastifyPluginAsyncTypebox<ScenarioRouteOptions> = async (app, opts) => {
  async function readable(request: FastifyRequest, id: string): Promise<{ state: ScenarioState; principal: Principal }> {
    const principal = principalOf(request, ...OWNER_OR_OPERATOR);
    const state = await app.scenarios.get(id);
    // Someone else's scenario answers exactly like one that does not exist, so that a caller
    // cannot learn which scenario ids exist.
    if (!mayRead(principal, state)) {
      request.log.info({ scenarioId: id, caller: principal.kind }, 'scenario of another subject: answered as not found');
      throw scenarioNotFound(id);
    }
    return { state, principal };
  }

  app.post('/api/spawn', {
    config: { auth: ['sat'] },
    schema: { body: SpawnRequest, response: { 202: SpawnResponse, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 409: ErrorBody, 429: ErrorBody, 503: ErrorBody } },
  }, async (request, reply) => {
    const sat = principalOf(request, 'sat');
    const admission = await app.spawn.spawn(sat.claims, request.id);
    const { scenarioId } = admission;
    request.log.info({ scenarioId, status: admission.status }, 'spawn admitted');
    if (admission.status === 'denied') {
      throw new ForbiddenError(`policy denied the spawn: ${admission.reasons.join('; ')}`, 'policy_denied', { reasons: admission.reasons });
    }
    // The subject's key to its running scenario (exec, files, terminal, reading it): outlives the
    // SAT (10 minutes at most) up to the longest TTL the plan allows; every use re-checks that
    // the scenario is still running.
    const ttl = (opts.plans[sat.claims.plan]?.limits.ttlSeconds ?? 3600) + LAUNCH_ALLOWANCE_SECONDS;
    const access = await mintToken('access', { sub: sat.sub, tenant: sat.tenant, scn: scenarioId }, accessRing(opts.config.secrets.SAT_HMAC_SECRET!), { ttlSeconds: ttl });
    return reply.status(202).header('Location', `/api/scenarios/${scenarioId}`).send({
      scenarioId, status: admission.status, accessToken: access.token, accessTokenExpiresAt: access.expiresAt.toISOString(),
    });
  });

  app.get('/api/scenarios/:id', {
    config: { auth: OWNER_OR_OPERATOR },
    schema: { params: ScenarioParams, response: { 200: ScenarioView, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 503: ErrorBody } },
  }, async (request) => {
    const { state, principal } = await readable(request, request.params.id);
    return viewFor(principal, state);
  });

  app.post('/api/scenarios/:id/complete', {
    config: { auth: ['completion', 'operator'] },
    schema: { params: ScenarioParams, body: CompleteRequest, response: { 202: StatusBody, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody } },
  }, async (request, reply) => {
    const { id } = request.params;
    const principal = principalOf(request, 'completion', 'operator');
    const actor = principal.kind === 'operator' ? `operator:${principal.sub}` : 'scenario-host';
    try {
      const ack = await app.scenarios.complete(id, { ...request.body, actor });
      request.log.info({ scenarioId: id, actor, outcome: request.body.outcome }, 'completion accepted');
      // Only an accepted completion is an action: a refused one changed nothing.
      if (principal.kind === 'operator') await app.operatorAudit({ actor, action: 'scenario.force_complete', scenarioId: id, data: { outcome: request.body.outcome } });
      return reply.status(202).send(ack);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw scenarioNotFound(id);
      throw err;
    }
  });

  app.post('/api/scenarios/:id/cancel', {
    config: { auth: OWNER_OR_OPERATOR },
    schema: { params: ScenarioParams, response: { 202: StatusBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody } },
  }, async (request, reply) => {
    const { state, principal } = await readable(request, request.params.id);
    if (TERMINAL_STATUSES.includes(state.status)) throw new ConflictError(`scenario is already ${state.status}`, 'not_running');
    if (principal.kind === 'operator') await app.operatorAudit({ actor: `operator:${principal.sub}`, action: 'scenario.cancel', scenarioId: state.scenarioId });
    await app.scenarios.cancel(state.scenarioId);
    request.log.info({ scenarioId: state.scenarioId, by: principal.kind }, 'cancel requested');
    return reply.status(202).send({ status: state.status });
  });

  app.get('/api/scenarios/:id/verdict', {
    config: { auth: OWNER_OR_OPERATOR },
    schema: { params: ScenarioParams, response: { 200: VerdictResponse, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody } },
  }, async (request) => {
    const { state } = await readable(request, request.params.id);
    return app.scenarios.verdict(state);
  });
};
export default scenarioRoutes;
