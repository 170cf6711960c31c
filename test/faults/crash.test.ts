// Fault: the container worker dies (SIGKILL) the moment the engine has created the scenario's
// container, before the launch activity can report it. After a restart the scenario finishes,
// and the engine's own event log shows exactly one container ever created for it, none left.
// The container worker is a real separate process (workers/container.ts); the main worker runs
// in this process against the same real Temporal dev server.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { LABELS } from '../../activities/container-spec.ts';
import { createMainWorker, WORKFLOWS_PATH } from '../../workers/workers.ts';
import {
  completeUpdate,
  MAIN_TASK_QUEUE,
  SCENARIO_WORKFLOW_TYPE,
  scenarioIdFromJti,
  SEARCH_ATTRIBUTES,
  statusQuery,
  type ScenarioInput,
  type ScenarioState,
} from '../../workflows/shared.ts';
import { containersOf, docker, REPO, testConfig, tools, waitFor, type TestConfig } from '../support/harness.ts';

Runtime.install({ logger: new DefaultLogger('WARN') });

describe('crash: container worker killed right after the container is created', () => {
  let env: TestWorkflowEnvironment;
  let t: TestConfig;
  let main: Worker;
  let stopMain: () => void = () => undefined;
  let mainDone: Promise<unknown>;
  const completionSecret = randomBytes(32).toString('base64url');
  const children: ChildProcess[] = [];

  before(async () => {
    env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: tools().TEMPORAL_BIN },
        ip: '127.0.0.1',
        extraArgs: Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
      },
    });
    t = await testConfig({ COMPLETION_HMAC_SECRET: completionSecret });
    const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
    ({ worker: main } = await createMainWorker({ config: t.config, connection: env.nativeConnection, client: env.client, workflowBundle: bundle }));
    mainDone = main.runUntil(new Promise<void>((resolve) => { stopMain = resolve; }));
  });

  after(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    stopMain();
    await mainDone;
    await env?.teardown();
    t?.cleanup();
  });

  /** `node --import tsx workers/container.ts`, configured like a deployed container host. */
  function startContainerWorker(): { child: ChildProcess; exited: Promise<NodeJS.Signals | number | null> } {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'workers', 'container.ts')], {
      cwd: REPO,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ARBITER_MODE: 'production',
        COMPLETION_HMAC_SECRET: completionSecret,
        ARBITER_STORAGE_DIR: t.config.storageDir,
        ARBITER_HOST_ID: t.config.hostId,
        TEMPORAL_ADDRESS: env.address,
        TEMPORAL_NAMESPACE: t.config.temporalNamespace,
        DOCKER_SOCKET: t.config.dockerSocket,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    children.push(child);
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => {
      if (code !== null && code !== 0) console.error(`container worker exited ${code}: ${stderr.slice(-2000)}`);
      resolve(signal ?? code);
    }));
    return { child, exited };
  }

  /** The engine's create events for the scenario's container, as a live stream or over a past window. */
  const createFilter = (scenarioId: string) => ({ type: ['container' as const], event: ['create'], label: [`${LABELS.scenario}=${scenarioId}`, `${LABELS.role}=scenario`] });

  it('after a SIGKILL between create and record, the restarted worker adopts the container: scored, one create, nothing left', async () => {
    const scenarioId = scenarioIdFromJti(randomUUID());
    const since = Math.floor(Date.now() / 1000) - 1;

    // Armed before anything can create the container: the kill follows the engine's create event.
    const events = (await docker.getEvents({ filters: createFilter(scenarioId) })) as Readable;
    const first = startContainerWorker();
    let killedOnCreate = false;
    const created = new Promise<void>((resolve) => {
      events.once('data', () => {
        killedOnCreate = first.child.kill('SIGKILL');
        resolve();
      });
    });

    const input: ScenarioInput = {
      scenarioId, correlationId: randomUUID(), subject: 'alice', tenant: 'acme', plan: 'free',
      template: { id: 'hello', version: '1' }, track: 'intro', retentionDays: 7, createdAt: new Date().toISOString(),
    };
    const handle = await env.client.workflow.start(SCENARIO_WORKFLOW_TYPE, { taskQueue: MAIN_TASK_QUEUE, workflowId: scenarioId, args: [input] });
    try {
      await created;
      events.destroy();
      assert.equal(killedOnCreate, true);
      assert.equal(await first.exited, 'SIGKILL');

      // The dead attempt left its container created, never started, and the workflow not told.
      const [orphan] = await containersOf(scenarioId);
      assert.ok(orphan, 'the container exists');
      assert.notEqual(orphan.State, 'running');
      assert.equal((await handle.query(statusQuery)).status, 'launching');

      const second = startContainerWorker();
      // The heartbeat timeout marks the dead attempt failed; the retry adopts the container.
      await waitFor('the scenario running after the restart', async () => ((await handle.query(statusQuery)).status === 'running' ? true : undefined), 60_000);
      await handle.executeUpdate(completeUpdate, { args: [{ outcome: 'success', submission: { answer: 'hello' }, actor: 'crash-test' }] });
      const final = await handle.result() as ScenarioState;
      assert.equal(final.status, 'scored', final.reason);
      assert.deepEqual(final.score, { score: 2, maxScore: 2, passed: true });

      const until = Math.ceil(Date.now() / 1000) + 1;
      const history = (await docker.getEvents({ since, until, filters: createFilter(scenarioId) })) as Readable;
      let text = '';
      for await (const chunk of history) text += (chunk as Buffer).toString('utf8');
      const creates = text.split('\n').filter((l) => l.trim());
      assert.equal(creates.length, 1, `exactly one container was ever created for the scenario: ${creates.length}`);
      assert.equal((JSON.parse(creates[0]!) as { Actor: { Attributes: Record<string, string> } }).Actor.Attributes.name, `arbiter-${scenarioId}`);
      assert.deepEqual(await containersOf(scenarioId), [], 'none is left');

      second.child.kill('SIGTERM');
      assert.equal(await second.exited, 0, 'the restarted worker shuts down gracefully');
    } finally {
      await handle.terminate('test cleanup').catch(() => undefined);
      for (const c of await containersOf(scenarioId)) await docker.getContainer(c.Id).remove({ force: true });
    }
  });
});
