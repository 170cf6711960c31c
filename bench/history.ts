// Where a scenario's time went, read from its workflow history (server timestamps): how long each
// activity ran, how long activity and workflow tasks waited to be picked up, and how long the
// worker took over its workflow tasks. Everything else is Temporal's own bookkeeping.
import type { Client } from '@temporalio/client';
import { percentile } from './report.ts';

type History = Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>;
type HistoryEvent = NonNullable<History['events']>[number];

export const eventTimeMs = (e: HistoryEvent): number => Number(e.eventTime!.seconds) * 1000 + (e.eventTime!.nanos ?? 0) / 1e6;

export interface HistoryProfile {
  totalMs: number;
  /** activity type → ms from started to completed (summed over retries) */
  activityMs: Record<string, number>;
  activityPickupMs: number;
  workflowTaskPickupMs: number;
  workflowTaskRunMs: number;
  workflowTasks: number;
  /** every event of the history, Temporal's bookkeeping included */
  events: number;
}

export function profileHistory(history: History): HistoryProfile {
  const events = history.events ?? [];
  const byId = new Map(events.map((e) => [Number(e.eventId), e]));
  const profile: HistoryProfile = { totalMs: 0, activityMs: {}, activityPickupMs: 0, workflowTaskPickupMs: 0, workflowTaskRunMs: 0, workflowTasks: 0, events: events.length };
  if (events.length) profile.totalMs = eventTimeMs(events.at(-1)!) - eventTimeMs(events[0]!);
  for (const e of events) {
    const started = e.activityTaskStartedEventAttributes;
    if (started) {
      const scheduled = byId.get(Number(started.scheduledEventId));
      if (scheduled) profile.activityPickupMs += eventTimeMs(e) - eventTimeMs(scheduled);
    }
    const done = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskCanceledEventAttributes;
    if (done) {
      const scheduled = byId.get(Number(done.scheduledEventId));
      const start = byId.get(Number(done.startedEventId));
      const type = scheduled?.activityTaskScheduledEventAttributes?.activityType?.name ?? '?';
      if (start) profile.activityMs[type] = (profile.activityMs[type] ?? 0) + eventTimeMs(e) - eventTimeMs(start);
    }
    const wftStarted = e.workflowTaskStartedEventAttributes;
    if (wftStarted) {
      const scheduled = byId.get(Number(e.eventId) - 1);
      if (scheduled?.workflowTaskScheduledEventAttributes) profile.workflowTaskPickupMs += eventTimeMs(e) - eventTimeMs(scheduled);
    }
    const wftDone = e.workflowTaskCompletedEventAttributes;
    if (wftDone) {
      const start = byId.get(Number(wftDone.startedEventId));
      if (start) { profile.workflowTaskRunMs += eventTimeMs(e) - eventTimeMs(start); profile.workflowTasks++; }
    }
  }
  return profile;
}

/** Medians over several profiles, rounded to the millisecond. */
export function medianProfile(profiles: readonly HistoryProfile[]): Record<string, number> {
  const med = (xs: number[]) => Math.round(percentile(xs, 50));
  const out: Record<string, number> = {
    totalMs: med(profiles.map((p) => p.totalMs)),
    workflowTasks: med(profiles.map((p) => p.workflowTasks)),
    events: med(profiles.map((p) => p.events)),
    workflowTaskPickupMs: med(profiles.map((p) => p.workflowTaskPickupMs)),
    workflowTaskRunMs: med(profiles.map((p) => p.workflowTaskRunMs)),
    activityPickupMs: med(profiles.map((p) => p.activityPickupMs)),
  };
  const types = new Set(profiles.flatMap((p) => Object.keys(p.activityMs)));
  for (const t of types) out[`activity:${t}`] = med(profiles.map((p) => p.activityMs[t] ?? 0));
  return out;
}

/**
 * Where one spawn's time went, from its workflow history (server timestamps, same clock): the
 * API until the workflow started, the admission steps (entitlements, policy, host) until the
 * launch was scheduled (of which: the pick-up of the workflow task that scheduled it, and how long
 * that task ran), the launch activity's pick-up, and the activity until running: `runningAt` (the
 * engine's start event) when given, else the launch activity's completion.
 */
export function spawnSpans(history: History, t0: number, runningAt?: number): Record<string, number> {
  const events = history.events ?? [];
  const ms = eventTimeMs;
  const started = events.find((e) => e.workflowExecutionStartedEventAttributes);
  const launch = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'launchContainer');
  const launchStarted = launch && events.find((e) => e.activityTaskStartedEventAttributes && Number(e.activityTaskStartedEventAttributes.scheduledEventId) === Number(launch.eventId));
  const launchDone = launch && events.find((e) => Number(e.activityTaskCompletedEventAttributes?.scheduledEventId) === Number(launch.eventId));
  // The workflow task that ran admission: its pick-up, and how long it ran (the local activities).
  const launchTask = launch && events.filter((e) => e.workflowTaskCompletedEventAttributes && Number(e.eventId) < Number(launch.eventId)).at(-1);
  const launchTaskStarted = launchTask && events.find((e) => Number(e.eventId) === Number(launchTask.workflowTaskCompletedEventAttributes!.startedEventId));
  const launchTaskScheduled = launchTask && events.find((e) => Number(e.eventId) === Number(launchTask.workflowTaskCompletedEventAttributes!.scheduledEventId));
  const end = runningAt ?? (launchDone && ms(launchDone));
  if (!started || !launch || !launchStarted || !launchTask || !launchTaskStarted || !launchTaskScheduled || end === undefined) return {};
  return {
    apiUntilWorkflowStarted: ms(started) - t0,
    admissionUntilLaunchScheduled: ms(launch) - ms(started),
    admissionTaskPickup: ms(launchTaskStarted) - ms(launchTaskScheduled),
    admissionTaskRun: ms(launchTask) - ms(launchTaskStarted),
    launchPickup: ms(launchStarted) - ms(launch),
    launchActivityUntilRunning: end - ms(launchStarted),
  };
}

/** The median of each span over several spawns (keys of spawnSpans). */
export function medianSpans(spans: ReadonlyArray<Record<string, number>>): Record<string, number> {
  const keys = ['apiUntilWorkflowStarted', 'admissionUntilLaunchScheduled', 'admissionTaskPickup', 'admissionTaskRun', 'launchPickup', 'launchActivityUntilRunning'];
  return Object.fromEntries(keys.map((k) => [k, Math.round(percentile(spans.map((b) => b[k]).filter((v): v is number => v !== undefined), 50))]));
}
