// Scoring and evidence on the real components (time-skipping server, workflow bundle, Docker,
// OPA Wasm, signer): scorers that crash, hang or print garbage fail the scenario with the reason
// and never produce a score; a scored scenario's evidence manifest lists every kind of evidence.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { completeUpdate, statusQuery, type ScenarioState } from '../../contract/scenario.ts';
import { MAIN_TASK_QUEUE, SCENARIO_WORKFLOW_TYPE } from '../../contract/queues.ts';
import { retentionQuery, retentionWorkflowId } from '../../contract/retention.ts';
import { resultsDir, RESULTS, verifyResults } from '../../infra/results.ts';
import { verifyChainText } from '../../lib/audit-chain.ts';
import { sha256Hex } from '../../lib/canonical-json.ts';
import { publicJwks } from '../../infra/keys.ts';
import { LOG_CAP_BYTES } from '../../activities/collect-evidence.ts';
import { containersOf, waitFor, type TestConfig } from '../support/harness.ts';
import { scenarioInput } from '../support/scenario-input.ts';
import { buildTestTemplates } from '../support/templates.ts';
import { startTimeSkipping, type TimeSkipping } from '../support/time-skipping.ts';

const VALID_SCORE = '{"score":2,"maxScore":2,"passed":true,"checks":[]}';

describe('scoring robustness and evidence (time-skipping)', () => {
  let env: TestWorkflowEnvironment;
  let t: TestConfig;
  let templatesDir: string;
  let ts: TimeSkipping;

  before(async () => {
    ts = await startTimeSkipping();
    ({ env, t } = ts);
    // Each broken scorer prints a valid score first: whatever it printed, it must not count.
    templatesDir = await buildTestTemplates([
      { id: 'scorer-crash', scorer: `#!/bin/sh\necho '${VALID_SCORE}'\nexit 3\n` },
      { id: 'scorer-hang', scorer: `#!/bin/sh\necho '${VALID_SCORE}'\nsleep 600\n`, scorerTimeoutSeconds: 2 },
      { id: 'scorer-garbage', scorer: `#!/bin/sh\necho '${VALID_SCORE}'\necho 'Traceback (most recent call last): boom'\n` },
      { id: 'scorer-slow', scorer: `#!/bin/sh\nsleep 600\necho '${VALID_SCORE}'\n`, scorerTimeoutSeconds: 600 },
      { id: 'scorer-good', scorer: readFileSync(join(import.meta.dirname, '..', '..', 'templates', 'hello', '1', 'scorer', 'score.sh'), 'utf8') },
    ]);
    await ts.startWorkers(templatesDir);
  });

  after(async () => {
    await ts?.stop();
    if (templatesDir) rmSync(templatesDir, { recursive: true, force: true });
  });

  /** Spawns the template, completes it as its host would, and returns how the scenario ended. */
  async function runToEnd(template: string): Promise<ScenarioState> {
    const input = scenarioInput({ template: { id: template, version: '1' }, retentionDays: 7 });
    const handle = await env.client.workflow.start(SCENARIO_WORKFLOW_TYPE, { taskQueue: MAIN_TASK_QUEUE, workflowId: input.scenarioId, args: [input] });
    await waitFor('the scenario to be running', async () => {
      const s = await handle.query(statusQuery);
      if (s.status === 'failed' || s.status === 'denied') throw new Error(`scenario ${s.status}: ${s.reason ?? ''}`);
      return s.status === 'running' ? true : undefined;
    });
    await handle.executeUpdate(completeUpdate, { args: [{ outcome: 'success', submission: { answer: 'hello' }, actor: 'scenario-host' }] });
    // Polled until closed, and the final state read by query: awaiting result(), even of a closed
    // workflow, lets the test server skip time, straight to the retention timer that deletes the
    // artifacts this test is about to read.
    await waitFor('the scenario to close', async () => ((await handle.describe()).status.name === 'RUNNING' ? undefined : true));
    return handle.query(statusQuery);
  }

  async function assertFailedWithoutScore(final: ScenarioState, reason: RegExp) {
    assert.equal(final.status, 'failed');
    assert.match(final.reason ?? '', reason);
    assert.equal(final.score, undefined, 'no score in the state');
    const dir = resultsDir(t.config.storageDir, final.scenarioId);
    assert.ok(!existsSync(join(dir, RESULTS.score)), 'no score.json');
    assert.ok(!existsSync(join(dir, RESULTS.envelope)), 'no verdict');
    const audit = readFileSync(join(dir, RESULTS.audit), 'utf8');
    assert.ok(verifyChainText(audit).ok);
    assert.doesNotMatch(audit, /score\.computed/);
    assert.match(audit, /status\.failed/);
    // What it left (evidence, audit log) is retained as a scored scenario's would be, from its end.
    const retention = await env.client.workflow.getHandle(retentionWorkflowId(final.scenarioId)).query(retentionQuery);
    assert.equal(retention.status, 'retained');
    assert.equal(Date.parse(retention.deleteAfter) - Date.parse(final.updatedAt), 7 * 24 * 3600 * 1000, 'the free plan\'s 7 days from the end');
    assert.deepEqual(await containersOf(final.scenarioId), [], 'scenario and scorer containers are gone');
  }

  it('when the scorer exits non-zero after printing a valid score, the scenario fails with the exit code and gets no score', async () => {
    await assertFailedWithoutScore(await runToEnd('scorer-crash'), /scorer exited with code 3/);
  });

  it('when the scorer outlives its timeout, the scenario fails naming the timeout and gets no score', async () => {
    await assertFailedWithoutScore(await runToEnd('scorer-hang'), /scorer did not finish within 2s/);
  });

  it('when the scenario is cancelled while its scorer runs, the scorer is stopped and removed at once instead of running out its 600 s timeout', async () => {
    const input = scenarioInput({ template: { id: 'scorer-slow', version: '1' }, retentionDays: 7 });
    const handle = await env.client.workflow.start(SCENARIO_WORKFLOW_TYPE, { taskQueue: MAIN_TASK_QUEUE, workflowId: input.scenarioId, args: [input] });
    await waitFor('running', async () => ((await handle.query(statusQuery)).status === 'running' ? true : undefined));
    await handle.executeUpdate(completeUpdate, { args: [{ outcome: 'success', submission: { answer: 'hello' }, actor: 'scenario-host' }] });
    await waitFor('the scorer container to run', async () => ((await containersOf(input.scenarioId)).some((c) => c.Labels['io.arbiter.role'] === 'scorer' && c.State === 'running') ? true : undefined));
    await handle.cancel();
    await waitFor('the scenario to close', async () => ((await handle.describe()).status.name === 'RUNNING' ? undefined : true));
    assert.equal((await handle.query(statusQuery)).status, 'cancelled');
    // Within the heartbeat timeout, not the scorer's 600 s: waitFor gives up after 60 s.
    await waitFor('the scorer container to be removed', async () => ((await containersOf(input.scenarioId)).length === 0 ? true : undefined));
    assert.ok(!existsSync(join(resultsDir(t.config.storageDir, input.scenarioId), RESULTS.score)), 'no score.json');
  });

  it('when the scorer prints garbage as its last line, the scenario fails quoting it and gets no score', async () => {
    await assertFailedWithoutScore(await runToEnd('scorer-garbage'), /scorer printed no JSON score.*boom/);
  });

  it('a scored scenario\'s manifest lists logs with their cap, fs diff, inspect, isolation, policy, entitlement and submission, each with its digest and size', async () => {
    const final = await runToEnd('scorer-good');
    assert.equal(final.status, 'scored', final.reason);
    const dir = resultsDir(t.config.storageDir, final.scenarioId);
    const evidence = join(dir, RESULTS.evidenceDir);
    const manifest = JSON.parse(readFileSync(join(evidence, 'manifest.json'), 'utf8')) as { files: Array<{ path: string; sha256: string; size: number }> };
    const listed = new Map(manifest.files.map((f) => [f.path, f]));
    for (const name of ['container.log', 'exit.json', 'fs-diff.json', 'inspect.json', 'isolation.json', 'policy.json', 'entitlement.json', 'submission.json']) {
      const entry = listed.get(name);
      assert.ok(entry, `${name} is in the manifest`);
      const bytes = readFileSync(join(evidence, name));
      assert.equal(entry.sha256, sha256Hex(bytes), `${name} digest`);
      assert.equal(entry.size, bytes.length, `${name} size`);
    }
    // Every file in the folder is listed: nothing rides along unbound.
    const onDisk = readdirSync(evidence, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length;
    assert.equal(manifest.files.length, onDisk - 1, 'every evidence file but the manifest itself is listed');

    const exit = JSON.parse(readFileSync(join(evidence, 'exit.json'), 'utf8')) as { logCapBytes: number; logTruncated: boolean };
    assert.equal(exit.logCapBytes, LOG_CAP_BYTES, 'the log cap is noted');
    assert.equal(exit.logTruncated, false);
    assert.match(readFileSync(join(evidence, 'container.log'), 'utf8'), /hello, arbiter/);
    assert.ok(Array.isArray(JSON.parse(readFileSync(join(evidence, 'fs-diff.json'), 'utf8'))), 'the fs diff is a list of changes');
    const policy = JSON.parse(readFileSync(join(evidence, 'policy.json'), 'utf8')) as { allow: boolean; policySha256: string };
    assert.equal(policy.allow, true);
    assert.match(policy.policySha256, /^[0-9a-f]{64}$/, 'the policy decision carries the policy hash');
    assert.equal((JSON.parse(readFileSync(join(evidence, 'isolation.json'), 'utf8')) as { networkMode: string }).networkMode, 'none');
    assert.equal((JSON.parse(readFileSync(join(evidence, 'entitlement.json'), 'utf8')) as { plan: string }).plan, 'free');
    assert.deepEqual((JSON.parse(readFileSync(join(evidence, 'submission.json'), 'utf8')) as { submission: unknown }).submission, { answer: 'hello' });
    assert.doesNotMatch(readFileSync(join(evidence, 'inspect.json'), 'utf8'), /ARBITER_COMPLETION_TOKEN/, 'no completion token was put in the container\'s environment');

    const check = await verifyResults(dir, await publicJwks(t.config.keysDir));
    assert.ok(check.ok, JSON.stringify(check));
  });
});
