// The quota entity of one subject: concurrent-scenario leases and the spawn rate, decided inside
// one workflow so every acquisition is serialized and strongly consistent. The validator answers
// "no" before anything enters history; holders that ended without releasing (terminated from the
// UI, or never started because the API died after acquiring) are found by a periodic check.
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { MainActivities } from '../activities/index.ts';
import { acquireLeaseUpdate, quotaQuery, releaseLeaseSignal, type LeaseRequest, type QuotaInput, type QuotaState } from '../contract/quota.ts';
import { FailureTypes } from '../contract/failures.ts';

const { leaseHolderStates } = proxyActivities<MainActivities>({ startToCloseTimeout: '30 seconds' });

const RATE_WINDOW_MS = 60_000;

export async function quotaWorkflow(input: QuotaInput): Promise<void> {
  const state: QuotaState = {
    leases: { ...(input.carried?.leases ?? {}) },
    recentSpawns: [...(input.carried?.recentSpawns ?? [])],
    reapIntervalSeconds: input.reapIntervalSeconds,
    startGraceSeconds: input.startGraceSeconds,
  };
  let changed = false;
  const now = () => Date.now();
  const prune = () => {
    state.recentSpawns = state.recentSpawns.filter((t) => now() - Date.parse(t) < RATE_WINDOW_MS);
  };

  setHandler(quotaQuery, () => state);
  setHandler(
    acquireLeaseUpdate,
    (req: LeaseRequest) => {
      const held = state.leases[req.scenarioId] !== undefined;
      if (!held) {
        state.leases[req.scenarioId] = { acquiredAt: new Date().toISOString() };
        state.recentSpawns.push(new Date().toISOString());
        changed = true;
      }
      return { scenarioId: req.scenarioId, alreadyHeld: held, active: Object.keys(state.leases).length };
    },
    {
      validator: (req: LeaseRequest) => {
        // The same scenario asking again (a replayed SAT) is not a new spawn: let the start decide.
        if (state.leases[req.scenarioId]) return;
        prune();
        // Validators do not run on replay, so counting more here leaves recorded histories alone.
        const active = Object.keys(state.leases).length + (req.heldElsewhere ?? 0);
        if (active >= req.maxConcurrent) {
          throw ApplicationFailure.create({
            type: FailureTypes.quotaExceeded,
            message: `${active} of ${req.maxConcurrent} concurrent scenarios are in use`,
            details: [{ retryAfterSeconds: state.reapIntervalSeconds }],
            nonRetryable: true,
          });
        }
        if (state.recentSpawns.length >= req.spawnsPerMinute) {
          const oldest = Date.parse(state.recentSpawns[0]!);
          throw ApplicationFailure.create({
            type: FailureTypes.rateLimited,
            message: `spawn rate of ${req.spawnsPerMinute} per minute reached`,
            details: [{ retryAfterSeconds: Math.max(1, Math.ceil((oldest + RATE_WINDOW_MS - now()) / 1000)) }],
            nonRetryable: true,
          });
        }
      },
    },
  );
  setHandler(releaseLeaseSignal, ({ scenarioId }) => {
    if (state.leases[scenarioId]) {
      delete state.leases[scenarioId];
      changed = true;
    }
  });

  let lastCheck = now();
  for (;;) {
    const intervalMs = state.reapIntervalSeconds * 1000;
    const hasLeases = () => Object.keys(state.leases).length > 0;
    if (!hasLeases()) lastCheck = now();
    // Sleep until something changes, or (while leases are out) until the next holder check is due;
    // the check runs on schedule even when leases come and go faster than its interval.
    changed = false;
    if (hasLeases()) await condition(() => changed || workflowInfo().continueAsNewSuggested, Math.max(1000, intervalMs - (now() - lastCheck)));
    else await condition(() => changed || workflowInfo().continueAsNewSuggested);

    if (hasLeases() && now() - lastCheck >= intervalMs) {
      lastCheck = now();
      const ids = Object.keys(state.leases);
      const holders = await leaseHolderStates(ids);
      for (const id of ids) {
        const lease = state.leases[id];
        if (!lease) continue;
        const holder = holders[id];
        const age = (now() - Date.parse(lease.acquiredAt)) / 1000;
        // A closed holder never released (terminated); a missing one never started (the API died
        // between acquiring and starting): after a grace period both leases are freed.
        if (holder === 'closed' || (holder === 'missing' && age > state.startGraceSeconds)) delete state.leases[id];
      }
    }

    if (workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      prune();
      return continueAsNew<typeof quotaWorkflow>({
        reapIntervalSeconds: state.reapIntervalSeconds,
        startGraceSeconds: state.startGraceSeconds,
        carried: { leases: state.leases, recentSpawns: state.recentSpawns },
      });
    }
  }
}
