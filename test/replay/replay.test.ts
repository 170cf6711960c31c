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
import { ACTIVITY_NAMES_BY_STEP_PATCH, COMPLETION_SHA256_PATCH } from '../../workflows/patches.ts';

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

  it('the newest set runs admission as local activities (the versioned path, not only the old one)', () => {
    const newest = sets.at(-1)!;
    const history = temporal.api.history.v1.History.decode(readFileSync(join(DIR, newest, 'scenario-scored.pb')));
    const markers = (history.events ?? []).map((e) => e.markerRecordedEventAttributes?.markerName).filter(Boolean);
    assert.ok(markers.includes('core_patch'), `no patch marker in ${newest}/scenario-scored.pb`);
    assert.equal(markers.filter((m) => m === 'core_local_activity').length, 3, 'entitlements, policy and host as local activities');
  });

  it('the newest set took every versioned path: completions fingerprinted by sha256, step 8 scheduled as "score"', () => {
    const newest = sets.at(-1)!;
    const bytes = readFileSync(join(DIR, newest, 'scenario-scored.pb'));
    for (const patch of [COMPLETION_SHA256_PATCH, ACTIVITY_NAMES_BY_STEP_PATCH]) assert.ok(bytes.includes(patch), `no ${patch} patch in ${newest}/scenario-scored.pb`);
    const history = temporal.api.history.v1.History.decode(bytes);
    const scheduled = (history.events ?? []).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean);
    assert.ok(scheduled.includes('score') && !scheduled.includes('runScorer'), JSON.stringify(scheduled));
  });

  it('set 5-pods holds a multi-service scenario scored and one ended environment_reset by its target', () => {
    const scored = readFileSync(join(DIR, '5-pods', 'scenario-pod-scored.pb'));
    assert.ok(scored.includes('arbiter/web-recon-target:1') || scored.includes('-svc-target'), 'the pod\'s target service is in the history');
    const reset = readFileSync(join(DIR, '5-pods', 'scenario-pod-reset.pb'));
    // The reason is JSON inside the payload: its quotes are escaped there.
    assert.match(reset.toString('latin1'), /environment_reset: service \\?"target\\?" exited/, 'the reset names the target service');
  });

  for (const file of files) {
    it(`${file} replays without nondeterminism`, async () => {
      const history = temporal.api.history.v1.History.decode(readFileSync(join(DIR, file)));
      await Worker.runReplayHistory({ workflowBundle: bundle, replayName: file }, history);
    });
  }
});
