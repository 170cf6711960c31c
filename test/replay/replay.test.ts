// Determinism guard: histories recorded from real runs (scripts/record-histories.ts) must replay
// against the current workflow bundle. A change that would break running workflows fails here,
// in CI, instead of in production.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import proto from '@temporalio/proto';

const { temporal } = proto;
import { bundleWorkflows } from '../../workers/workers.ts';

const DIR = fileURLToPath(new URL('./histories', import.meta.url));
const files = readdirSync(DIR).filter((f) => f.endsWith('.pb')).sort();

describe('recorded histories replay against the current workflows', () => {
  let bundle: { code: string };
  before(async () => {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    bundle = await bundleWorkflows(new DefaultLogger('WARN'));
  });

  it('there is a recorded history for every workflow path', () => {
    for (const name of ['scenario-scored', 'scenario-denied', 'scenario-cancelled', 'scenario-exited', 'quota', 'tenant']) {
      assert.ok(files.includes(`${name}.pb`), `missing ${name}.pb: run scripts/record-histories.ts`);
    }
  });

  for (const file of files) {
    it(`${file} replays without nondeterminism`, async () => {
      const history = temporal.api.history.v1.History.decode(readFileSync(join(DIR, file)));
      await Worker.runReplayHistory({ workflowBundle: bundle, replayName: file }, history);
    });
  }
});
