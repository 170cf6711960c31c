// The SAT use case: an entitlement token buys a one-time, short-lived spawn authorization for one
// template and track, bound to the subject, tenant and plan the ET proves. The plan is the
// tenant's resolved one (a receipt beats the ET); the template must exist and be published for a
// track the plan includes.
import type { FastifyBaseLogger } from 'fastify';
import type { Static } from 'typebox';
import type { Config } from '../../infra/config.ts';
import { ArbiterError, BadRequestError, ConflictError, ForbiddenError, UnavailableError } from '../../lib/errors.ts';
import type { Plans } from '../../infra/plans.ts';
import { latestVersion, loadTemplate, UnknownTemplateError, type Template } from '../../infra/template.ts';
import { mintToken, SAT_MAX_TTL_SECONDS } from '../../infra/tokens.ts';
import { DEFAULT_PLAN } from '../../contract/tenant.ts';
import type { EntitlementService } from './entitlements.ts';
import type { Principal } from '../plugins/auth.ts';
import type { SatRequest, SatResponse } from '../schemas.ts';

export interface SatIssuanceDeps {
  config: Pick<Config, 'mode' | 'devAllowXPlan' | 'secrets'>;
  plans: Plans;
  templatesDir: string;
  entitlements: Pick<EntitlementService, 'record' | 'current'>;
}

/** What the route answers, typed by its response schema. */
export type IssuedSat = Static<typeof SatResponse>;

type Log = Pick<FastifyBaseLogger, 'info' | 'warn'>;
type Et = Extract<Principal, { kind: 'et' }>;

export async function issueSat(deps: SatIssuanceDeps, et: Et, body: SatRequest, xPlanHeader: string | string[] | undefined, log: Log): Promise<IssuedSat> {
  const planId = devPlanOverride(deps.config, await resolvePlan(deps.entitlements, et), xPlanHeader, log);
  const plan = deps.plans[planId];
  if (!plan) throw new ForbiddenError(`plan "${planId}" does not exist`, 'unknown_plan');
  const { id: templateId, version, template } = resolveTemplate(body.template, deps.templatesDir);
  const { track } = body;
  if (!plan.tracks.includes(track)) throw new ForbiddenError(`track "${track}" is not in plan "${planId}"`, 'track_not_in_plan');
  if (!template.tracks.includes(track)) {
    throw new ForbiddenError(`template "${templateId}@${version}" is not published for track "${track}"`, 'template_not_in_track');
  }

  const ring = deps.config.secrets.SAT_HMAC_SECRET;
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
  log.info({ sub: et.sub, tenant: et.tenant, plan: planId, template: `${templateId}@${version}`, track, jti }, 'SAT minted');
  return { sat: token, expiresAt: expiresAt.toISOString(), plan: planId, retentionDays: plan.retentionDays, template: templateId, templateVersion: version };
}

/** The ET's plan is recorded as a grant; the tenant's resolved plan (a receipt wins) is the SAT's. */
async function resolvePlan(entitlements: SatIssuanceDeps['entitlements'], et: Et): Promise<string> {
  try {
    const resolved = et.claims.plan
      ? await entitlements.record(et.tenant, { plan: et.claims.plan, source: 'et', reference: et.claims.jti, issuedAt: new Date(et.claims.iat * 1000).toISOString() })
        .catch(async (err: unknown) => {
          // An older ET than one already recorded still authenticates; it just grants nothing new.
          if (err instanceof ConflictError) return (await entitlements.current(et.tenant))!;
          throw err;
        })
      : await entitlements.current(et.tenant);
    return resolved?.plan ?? DEFAULT_PLAN;
  } catch (err) {
    if (err instanceof ArbiterError) throw err;
    throw new UnavailableError(`entitlements could not be resolved: ${(err as Error).message}`, 'entitlements_unavailable');
  }
}

/** The X-Plan header replaces the entitled plan only in dev mode with its own flag; elsewhere it is logged and ignored. */
function devPlanOverride(config: SatIssuanceDeps['config'], planId: string, xPlan: string | string[] | undefined, log: Log): string {
  if (typeof xPlan !== 'string') return planId;
  if (config.mode === 'dev' && config.devAllowXPlan) {
    log.warn({ from: planId, to: xPlan }, 'X-Plan header overrides the entitlement (dev only)');
    return xPlan;
  }
  log.warn({ xPlan }, 'X-Plan header ignored: it is honoured only in dev mode with ARBITER_DEV_ALLOW_X_PLAN');
  return planId;
}

/** "hello" (the latest version) or "hello@1" (pinned); an unknown one is the caller's mistake. */
function resolveTemplate(ref: string, templatesDir: string): { id: string; version: string; template: Template } {
  const [id = '', pinned] = ref.split('@');
  const version = pinned ?? latestVersion(id, templatesDir);
  if (!version) throw new BadRequestError(`unknown template "${id}"`, 'unknown_template');
  try {
    return { id, version, template: loadTemplate({ id, version }, templatesDir) };
  } catch (err) {
    if (err instanceof UnknownTemplateError) throw new BadRequestError(`unknown template "${id}@${version}"`, 'unknown_template');
    throw err;
  }
}
