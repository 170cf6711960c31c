// Determinism guard: histories recorded from real runs (scripts/record-histories.ts) must replay
// against the current workflow bundle. A change that would break running workflows fails here,
// in CI, instead of in production. Each folder is one set, recorded after a versioned change
// (patched()); every set keeps replaying, because workflows of each are still running somewhere.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import proto from '@temporalio/proto';

const { temporal } = proto;
import { bundleWorkflows } from '../../workers/workers.ts';
import { ACTIVITY_NAMES_BY_STEP_PATCH, COMPLETION_SHA256_PATCH, HOST_LOSS_PATCH, LEAN_HISTORY_PATCH } from '../../workflows/patches.ts';

const DIR = fileURLToPath(new URL('./histories', import.meta.url));
const sets = readdirSync(DIR, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
const files = sets.flatMap((set) => readdirSync(join(DIR, set)).filter((f) => f.endsWith('.pb')).sort().map((f) => join(set, f)));

describe('recorded histories replay against the current workflows', () => {
  let bundle: { code: string };
  before(async () => {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    bundle = await bundleWorkflows(new DefaultLogger('WARN'));
  });

  it('every set has a recorded history for every workflow path', () => {
    assert.ok(sets.length > 0, 'no recorded histories');
    for (const set of sets) {
      for (const name of ['scenario-scored', 'scenario-denied', 'scenario-cancelled', 'scenario-exited', 'quota', 'tenant']) {
        assert.ok(files.includes(join(set, `${name}.pb`)), `missing ${set}/${name}.pb: run scripts/record-histories.ts`);
      }
    }
  });

  it('set 2 runs admission as three local activities (the versioned path, not only the old one)', () => {
    const set = '2-local-admission-state-in-memo';
    const history = temporal.api.history.v1.History.decode(readFileSync(join(DIR, set, 'scenario-scored.pb')));
    const markers = (history.events ?? []).map((e) => e.markerRecordedEventAttributes?.markerName).filter(Boolean);
    assert.ok(markers.includes('core_patch'), `no patch marker in ${set}/scenario-scored.pb`);
    assert.equal(markers.filter((m) => m === 'core_local_activity').length, 3, 'entitlements, policy and host as local activities');
  });

  it('set 4 took every versioned path of its time: completions fingerprinted by sha256, step 8 scheduled as "score"', () => {
    const bytes = readFileSync(join(DIR, '4-activity-names-by-step', 'scenario-scored.pb'));
    for (const patch of [COMPLETION_SHA256_PATCH, ACTIVITY_NAMES_BY_STEP_PATCH]) assert.ok(bytes.includes(patch), `no ${patch} patch in set 4`);
    const history = temporal.api.history.v1.History.decode(bytes);
    const scheduled = (history.events ?? []).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean);
    assert.ok(scheduled.includes('score') && !scheduled.includes('runScorer'), JSON.stringify(scheduled));
  });

  it('the newest set is lean: one patch, admission and the seal as one local activity each, one host activity after the launch, at most 40 events', () => {
    const newest = sets.at(-1)!;
    assert.ok(newest >= '6-lean-history', newest);
    const bytes = readFileSync(join(DIR, newest, 'scenario-scored.pb'));
    assert.ok(bytes.includes(LEAN_HISTORY_PATCH), `no ${LEAN_HISTORY_PATCH} patch in ${newest}/scenario-scored.pb`);
    const events = temporal.api.history.v1.History.decode(bytes).events ?? [];
    const markers = events.map((e) => e.markerRecordedEventAttributes?.markerName).filter(Boolean);
    assert.deepEqual(markers, ['core_patch', 'core_local_activity', 'core_local_activity'], 'the patch, admit, sealScenario');
    const scheduled = events.map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean);
    assert.deepEqual(scheduled, ['launchContainer', 'concludeScenario']);
    assert.ok(!events.some((e) => e.startChildWorkflowExecutionInitiatedEventAttributes || e.signalExternalWorkflowExecutionInitiatedEventAttributes), 'no child, no external signal');
    assert.ok(events.length <= 40, `${events.length} events`);
  });

  it('set 5-pods holds a multi-service scenario scored and one ended environment_reset by its target', () => {
    const scored = readFileSync(join(DIR, '5-pods', 'scenario-pod-scored.pb'));
    assert.ok(scored.includes('arbiter/web-recon-target:1') || scored.includes('-svc-target'), 'the pod\'s target service is in the history');
    const reset = readFileSync(join(DIR, '5-pods', 'scenario-pod-reset.pb'));
    // The reason is JSON inside the payload: its quotes are escaped there.
    assert.match(reset.toString('latin1'), /environment_reset: service \\?"target\\?" exited/, 'the reset names the target service');
  });

  it('set 8-host-loss holds a scenario ended host_lost: its patch recorded when the signal came, nothing asked of the lost host after it; a scored scenario pays no marker for it', () => {
    const lost = temporal.api.history.v1.History.decode(readFileSync(join(DIR, '8-host-loss', 'scenario-host-lost.pb'))).events ?? [];
    const signalAt = lost.findIndex((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'hostLost');
    assert.ok(signalAt > 0, 'the hostLost signal is in the history');
    const after = lost.slice(signalAt);
    assert.ok(readFileSync(join(DIR, '8-host-loss', 'scenario-host-lost.pb')).includes(HOST_LOSS_PATCH), `the ${HOST_LOSS_PATCH} patch`);
    assert.ok(after.some((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch'), 'its marker comes after the signal');
    assert.deepEqual(after.map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean), [], 'no host activity after the loss (teardown included)');
    assert.match(readFileSync(join(DIR, '8-host-loss', 'scenario-host-lost.pb')).toString('latin1'), /host_lost: container host \\?"[a-z0-9-]+\\?" stopped answering/);
    assert.ok(lost.at(-1)?.workflowExecutionCompletedEventAttributes, 'it completed (failed is a state, not a workflow failure)');
    const scored = readFileSync(join(DIR, '8-host-loss', 'scenario-scored.pb'));
    assert.equal(scored.includes(HOST_LOSS_PATCH), false, 'a scenario whose host stayed up records no host-loss marker');
  });

  it('the bundle evaluates the completion digest (and the SHA-2 module under it) once per worker thread, not once per workflow', () => {
    // The bundler turns a preload it finds free of side effects into `0;`: the require must be there.
    const preload = bundle.code.slice(bundle.code.indexOf('function preloadModules'), bundle.code.indexOf('exports.importWorkflows'));
    assert.match(preload, /__webpack_require__\([^)]*"\.\/lib\/completion-digest\.ts"\)/, preload);
  });

  for (const file of files) {
    it(`${file} replays without nondeterminism`, async () => {
      const history = temporal.api.history.v1.History.decode(readFileSync(join(DIR, file)));
      await Worker.runReplayHistory({ workflowBundle: bundle, replayName: file }, history);
    });
  }
});
