// How a scenario host gets its completion token. The token used to sit in the scenario
// container's environment, where the party being judged could read it and end its own scenario;
// now the host's controller, holding an operator token, asks for it here. Each issue is recorded
// in the operator audit log before the token is handed out, and the token dies with the TTL.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Config } from '../../infra/config.ts';
import { ConflictError, UnavailableError } from '../../lib/errors.ts';
import { completionRing, mintToken } from '../../infra/tokens.ts';
import type { ScenarioState } from '../../contract/scenario.ts';
import { CompletionTokenResponse, ErrorBody, ScenarioParams } from '../schemas.ts';
import { principalOf } from '../plugins/auth.ts';

/**
 * Seconds a completion token issued now may live: until the scenario's TTL ends, which its timer
 * counts from the moment it started running (its last status change while it is `running`).
 */
export function completionTokenLifetime(state: ScenarioState, now: Date): number {
  if (state.status !== 'running') throw new ConflictError(`scenario is ${state.status}, not running`, 'not_running');
  if (state.ttlSeconds === undefined) {
    throw new UnavailableError('the scenario\'s TTL is not known right now (no worker answered): try again', 'state_unavailable');
  }
  const endsAt = Date.parse(state.updatedAt) + state.ttlSeconds * 1000;
  const seconds = Math.floor((endsAt - now.getTime()) / 1000);
  if (seconds <= 0) throw new ConflictError('the scenario\'s TTL is over: it is ending', 'not_running');
  return seconds;
}

const completionTokenRoutes: FastifyPluginAsyncTypebox<{ config: Config }> = async (app, { config }) => {
  app.post('/api/scenarios/:id/completion-token', {
    config: { auth: ['operator'] },
    schema: {
      description: 'Issues the completion token of a running scenario to its host\'s controller (operator token). Recorded in the operator audit log.',
      params: ScenarioParams,
      response: { 200: CompletionTokenResponse, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody },
    },
  }, async (request) => {
    const { id } = request.params;
    const principal = principalOf(request, 'operator');
    const actor = `operator:${principal.sub}`;
    const root = config.secrets.COMPLETION_HMAC_SECRET;
    if (!root) throw new Error('COMPLETION_HMAC_SECRET is not configured');
    const ttlSeconds = completionTokenLifetime(await app.scenarios.get(id), new Date());
    const { token, jti, expiresAt } = await mintToken('completion', { sub: id }, completionRing(root, id), { ttlSeconds });
    // Recorded before it is handed out: a token nobody can account for is never issued.
    await app.operatorAudit({ actor, action: 'scenario.completion_token', scenarioId: id, data: { jti, expiresAt: expiresAt.toISOString(), correlationId: request.id } });
    request.log.info({ scenarioId: id, actor, jti }, 'completion token issued');
    return { token, expiresAt: expiresAt.toISOString() };
  });
};
export default completionTokenRoutes;
