// The spawn use case: re-resolve the tenant's plan, take a quota lease on the subject's quota
// entity, then start the scenario. A lease taken for a start that fails is given back.
import type { Plans } from '../../infra/plans.ts';
import { UnavailableError } from '../../lib/errors.ts';
import type { SatClaims } from '../../infra/tokens.ts';
import { scenarioIdFromJti, type AdmissionResult } from '../../contract/scenario.ts';
import type { EntitlementService } from './entitlements.ts';
import type { QuotaService } from './quota.ts';
import type { ScenarioService } from './scenarios.ts';
import { realService } from './index.ts';

export interface SpawnDeps { plans: Plans; scenarios: ScenarioService; quota: QuotaService; entitlements: EntitlementService }

const NO_QUOTA = { maxConcurrent: 0, spawnsPerMinute: 0 };

export async function spawnScenario(deps: SpawnDeps, sat: SatClaims & { jti: string }, correlationId: string): Promise<{ scenarioId: string } & AdmissionResult> {
  const scenarioId = scenarioIdFromJti(sat.jti);
  let recorded;
  try {
    recorded = await deps.entitlements.current(sat.tenant);
  } catch (err) {
    throw new UnavailableError(`entitlements could not be read: ${(err as Error).message}`, 'entitlements_unavailable');
  }
  // The tenant's plan now, not the one the SAT was minted under: a downgrade applies at once.
  const plan = deps.plans[recorded?.plan ?? sat.plan];
  const lease = await deps.quota.acquire(sat.tenant, sat.sub, { scenarioId, ...(plan ?? NO_QUOTA) });
  try {
    const admission = await deps.scenarios.spawn({
      scenarioId,
      correlationId,
      subject: sat.sub,
      tenant: sat.tenant,
      plan: sat.plan,
      template: { id: sat.template, version: sat.template_version },
      track: sat.track,
      retentionDays: sat.retention_days,
      createdAt: new Date().toISOString(),
      quotaWorkflowId: lease.quotaWorkflowId,
      tenantPlanAtSpawn: recorded ? { plan: recorded.plan, source: recorded.source } : null,
    });
    return { scenarioId, ...admission };
  } catch (err) {
    // The lease is keyed by scenario id: while that scenario runs it is the scenario's to release
    // (a replayed SAT must not free the original's lease); otherwise nobody holds it but us.
    if (!(await deps.scenarios.isRunning(scenarioId).catch(() => false))) {
      await deps.quota.release(lease.quotaWorkflowId, scenarioId).catch(() => undefined);
    }
    throw err;
  }
}

/** The spawn use case bound to the app's services, as the spawn route calls it. */
export class SpawnService {
  constructor(private readonly deps: SpawnDeps) {}

  spawn(sat: SatClaims & { jti: string }, correlationId: string): Promise<{ scenarioId: string } & AdmissionResult> {
    return spawnScenario(this.deps, sat, correlationId);
  }
}

export const spawnService = realService('spawn', (app, opts: { plans: Plans }) => new SpawnService({ plans: opts.plans, scenarios: app.scenarios, quota: app.quota, entitlements: app.entitlements }));
