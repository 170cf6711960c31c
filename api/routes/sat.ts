// POST /api/sat: an entitlement token buys a one-time, short-lived spawn authorization for one
// template and track, bound to the subject, tenant and plan the ET proves.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Config } from '../../lib/config.ts';
import { ArbiterError, BadRequestError, ConflictError, ForbiddenError, UnavailableError } from '../../lib/errors.ts';
import { DEFAULT_PLAN } from '../../workflows/shared.ts';
import type { Plans } from '../../lib/plans.ts';
import { latestVersion, loadTemplate, UnknownTemplateError } from '../../lib/template.ts';
import { mintToken, SAT_MAX_TTL_SECONDS } from '../../lib/tokens.ts';
import { ErrorBody, SatRequest, SatResponse } from '../schemas.ts';
import { principalOf } from '../plugins/auth.ts';

const satRoutes: FastifyPluginAsyncTypebox<{ config: Config; plans: Plans; templatesDir: string }> = async (app, opts) => {
  app.post('/api/sat', {
    config: { auth: ['et'] },
    schema: { body: SatRequest, response: { 201: SatResponse, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 503: ErrorBody } },
  }, async (request, reply) => {
    const et = principalOf(request, 'et');
    // The ET's plan is recorded as a grant; the tenant's resolved plan (a receipt wins) is what
    // the SAT carries.
    let planId: string;
    try {
      const resolved = et.claims.plan
        ? await app.entitlements.record(et.tenant, { plan: et.claims.plan, source: 'et', reference: et.claims.jti, issuedAt: new Date(et.claims.iat * 1000).toISOString() })
          .catch(async (err: unknown) => {
            // An older ET than one already recorded still authenticates; it just grants nothing new.
            if (err instanceof ConflictError) return (await app.entitlements.current(et.tenant))!;
            throw err;
          })
        : await app.entitlements.current(et.tenant);
      planId = resolved?.plan ?? DEFAULT_PLAN;
    } catch (err) {
      if (err instanceof ArbiterError) throw err;
      throw new UnavailableError(`entitlements could not be resolved: ${(err as Error).message}`, 'entitlements_unavailable');
    }
    const xPlan = request.headers['x-plan'];
    if (typeof xPlan === 'string') {
      if (opts.config.mode === 'dev' && opts.config.devAllowXPlan) {
        request.log.warn({ from: planId, to: xPlan }, 'X-Plan header overrides the entitlement (dev only)');
        planId = xPlan;
      } else {
        request.log.warn({ xPlan }, 'X-Plan header ignored: it is honoured only in dev mode with ARBITER_DEV_ALLOW_X_PLAN');
      }
    }
    const plan = opts.plans[planId];
    if (!plan) throw new ForbiddenError(`plan "${planId}" does not exist`, 'unknown_plan');

    const [templateId = '', pinned] = request.body.template.split('@');
    const version = pinned ?? latestVersion(templateId, opts.templatesDir);
    if (!version) throw new BadRequestError(`unknown template "${templateId}"`, 'unknown_template');
    let template;
    try {
      template = loadTemplate({ id: templateId, version }, opts.templatesDir);
    } catch (err) {
      if (err instanceof UnknownTemplateError) throw new BadRequestError(`unknown template "${templateId}@${version}"`, 'unknown_template');
      throw err;
    }
    const { track } = request.body;
    if (!plan.tracks.includes(track)) throw new ForbiddenError(`track "${track}" is not in plan "${planId}"`, 'track_not_in_plan');
    if (!template.tracks.includes(track)) {
      throw new ForbiddenError(`template "${templateId}@${version}" is not published for track "${track}"`, 'template_not_in_track');
    }

    const ring = opts.config.secrets.SAT_HMAC_SECRET;
    if (!ring) throw new Error('SAT_HMAC_SECRET is not configured');
    const { token, expiresAt, jti } = await mintToken('sat', {
      sub: et.sub,
      tenant: et.tenant,
      plan: planId,
      template: templateId,
      template_version: version,
      track,
      retention_days: plan.retentionDays,
      jti: crypto.randomUUID(),
    }, ring, { ttlSeconds: SAT_MAX_TTL_SECONDS });
    request.log.info({ sub: et.sub, tenant: et.tenant, plan: planId, template: `${templateId}@${version}`, track, jti }, 'SAT minted');
    return reply.status(201).send({ sat: token, expiresAt: expiresAt.toISOString(), plan: planId, retentionDays: plan.retentionDays, template: templateId, templateVersion: version });
  });
};
export default satRoutes;
