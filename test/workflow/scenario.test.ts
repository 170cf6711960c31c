// Workflow tests in the time-skipping environment, with the real workflow bundle and the real
// activities (Docker engine, OPA Wasm policy, signer): hours of workflow time pass in seconds.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { MAIN_TASK_QUEUE, SCENARIO_WORKFLOW_TYPE } from '../../contract/queues.ts';
import { statusQuery, type ScenarioInput, type ScenarioState } from '../../contract/scenario.ts';
import { resultsDir, RESULTS } from '../../infra/results.ts';
import { verifyChainText } from '../../lib/audit-chain.ts';
import { scenarioInput } from '../support/scenario-input.ts';
import { containersOf, docker, REPO, waitFor } from '../support/harness.ts';
import { startTimeSkipping, type TimeSkipping } from '../support/time-skipping.ts';
import { buildTemplateImages, HOLDER_IMAGE } from '../../infra/images.ts';
import { publishTemplate } from '../../infra/template-publication.ts';

describe('scenario workflow (time-skipping)', () => {
  let ts: TimeSkipping;
  let templatesDir: string;
  let images: string[] = [];

  before(async () => {
    ts = await startTimeSkipping();
    // The hello template with a three-hour TTL, so the pro plan's two hours is what applies. It is
    // a different template from the published hello@1, so it is published in its own folder and
    // gets images of its own (tags unique to this run): launch only starts an image built from
    // exactly the template it pins.
    templatesDir = mkdtempSync(join(tmpdir(), 'arbiter-templates-'));
    cpSync(join(REPO, 'templates', 'hello'), join(templatesDir, 'hello'), { recursive: true });
    const file = join(templatesDir, 'hello', '1', 'template.json');
    const template = JSON.parse(readFileSync(file, 'utf8')) as { limits: { ttlSeconds: number }; image: { tag: string }; scorer: { tag: string } };
    const run = randomUUID().slice(0, 8);
    template.limits.ttlSeconds = 3 * 3600;
    template.image.tag = `arbiter-test/hello-${run}:1`;
    template.scorer.tag = `arbiter-test/hello-scorer-${run}:1`;
    writeFileSync(file, JSON.stringify(template));
    publishTemplate({ id: 'hello', version: '1' }, templatesDir);
    // Only this test's own images are removed after it: the namespace holder's is every pod's.
    images = (await buildTemplateImages(docker, { templatesDir })).map((b) => b.tag).filter((tag) => tag !== HOLDER_IMAGE);
  });

  after(async () => {
    await ts?.stop();
    rmSync(templatesDir, { recursive: true, force: true });
    for (const tag of images) await docker.getImage(tag).remove({ force: true }).catch(() => undefined);
  });

  const input = (plan: string): ScenarioInput => scenarioInput({ plan });

  it('when nobody completes a scenario, it times out after the plan TTL and its container is removed', async () => {
    const args = input('pro');

    const final = await ts.withWorkers(templatesDir, async () => {
      const handle = await ts.env.client.workflow.start(SCENARIO_WORKFLOW_TYPE, { taskQueue: MAIN_TASK_QUEUE, workflowId: args.scenarioId, args: [args] });
      // The container really runs before the TTL passes.
      await waitFor('the scenario to be running', async () => ((await handle.query(statusQuery)).status === 'running' ? true : undefined));
      assert.equal((await containersOf(args.scenarioId)).length, 1);
      // The TTL passes on the test server's clock. The end is polled, not awaited with result():
      // awaiting lets the server skip on to the retention timer the end starts, and that deletes
      // the evidence read below.
      await ts.env.sleep(7200 * 1000);
      return waitFor('the scenario to time out', async () => ((await handle.describe()).status.name === 'RUNNING' ? undefined : handle.query(statusQuery)));
    });

    assert.equal(final.status, 'timed_out');
    assert.equal(final.ttlSeconds, 7200, 'the pro plan caps the template TTL at two hours');
    const elapsed = Date.parse(final.updatedAt) - Date.parse(final.createdAt);
    assert.ok(elapsed >= 7200 * 1000, `workflow time advanced by the TTL (advanced ${elapsed} ms)`);
    assert.deepEqual(await containersOf(args.scenarioId), [], 'no container is left for the scenario');

    const dir = resultsDir(ts.t.config.storageDir, args.scenarioId);
    assert.ok(existsSync(join(dir, RESULTS.evidenceDir, 'container.log')), 'evidence was collected before teardown');
    assert.ok(!existsSync(join(dir, RESULTS.envelope)), 'a timed-out scenario gets no verdict');
    const chain = verifyChainText(readFileSync(join(dir, RESULTS.audit), 'utf8'));
    assert.ok(chain.ok, 'the audit log is an intact chain');
    assert.match(readFileSync(join(dir, RESULTS.audit), 'utf8'), /status\.timed_out/);
  });

  it('when the scenario container stops on its own, the scenario fails with the exit code and nothing is scored', async () => {
    const args = input('free');

    const final = await ts.withWorkers(templatesDir, async () => {
      const handle = await ts.env.client.workflow.start(SCENARIO_WORKFLOW_TYPE, { taskQueue: MAIN_TASK_QUEUE, workflowId: args.scenarioId, args: [args] });
      await waitFor('the scenario to be running', async () => ((await handle.query(statusQuery)).status === 'running' ? true : undefined));
      const [container] = await containersOf(args.scenarioId);
      await docker.getContainer(container!.Id).kill({ signal: 'SIGKILL' });
      // Awaiting the result lets the time-skipping server jump to the TTL at once: first wait for
      // the host's monitor to have told the workflow (its signal is in the history).
      await waitFor('the exit signalled', async () => ((await handle.fetchHistory()).events ?? []).some((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'containerExited') ? true : undefined);
      return handle.result() as Promise<ScenarioState>;
    });

    assert.equal(final.status, 'failed');
    assert.match(final.reason ?? '', /^environment_reset: service "main" exited \(code 137\) before completion$/);
    assert.equal(final.score, undefined);
    assert.deepEqual(await containersOf(args.scenarioId), []);
  });

  it('when the policy denies the spawn, no container is ever created and the status is denied', async () => {
    const args = { ...input('free'), track: 'web' };

    const final = await ts.withWorkers(templatesDir, async () => {
      const handle = await ts.env.client.workflow.start(SCENARIO_WORKFLOW_TYPE, { taskQueue: MAIN_TASK_QUEUE, workflowId: args.scenarioId, args: [args] });
      return handle.result() as Promise<ScenarioState>;
    });

    assert.equal(final.status, 'denied');
    assert.ok(final.reasons?.some((r) => r.includes('web') && r.includes('free')), `reasons name the track and plan: ${JSON.stringify(final.reasons)}`);
    assert.deepEqual(await containersOf(args.scenarioId), []);
  });
});
