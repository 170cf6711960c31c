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
import type { WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { LABELS } from '../../activities/container-spec.ts';
import { createMainWorker, WORKFLOWS_PATH } from '../../workers/workers.ts';
import { completeUpdate, scenarioIdFromJti, statusQuery, type ScenarioInput, type ScenarioState } from '../../contract/scenario.ts';
import { MAIN_TASK_QUEUE, SCENARIO_WORKFLOW_TYPE, SEARCH_ATTRIBUTES } from '../../contract/queues.ts';
import { containersOf, docker, REPO, testConfig, tools, waitFor, type TestConfig } from '../support/harness.ts';
import { recordEngineEvents } from '../support/restartable.ts';

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
  function startContainerWorker(overrides: Record<string, string> = {}): { child: ChildProcess; exited: Promise<NodeJS.Signals | number | null> } {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'workers', 'container.ts')], {
      cwd: REPO,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ARBITER_MODE: 'production',
        COMPLETION_HMAC_SECRET: completionSecret,
        ARBITER_STORAGE_DIR: t.config.storageDir,
        ARBITER_HOST_ID: t.config.hostId,
        // No warm pool: its entries would outlive the test (pooled-flag declares one).
        ARBITER_POOLS: 'none',
        TEMPORAL_ADDRESS: env.address,
        TEMPORAL_NAMESPACE: t.config.temporalNamespace,
        DOCKER_SOCKET: t.config.dockerSocket,
        LOG_LEVEL: 'warn',
        // No ops ports: a stack or another test on this machine may hold the defaults.
        WORKER_HTTP_PORT: 'off',
        TEMPORAL_METRICS_ADDRESS: 'off',
        ...overrides,
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

  /** Ends the test's scenario, its containers and any worker it left running, so the next test starts clean. */
  async function cleanup(handle: WorkflowHandle, scenarioId: string): Promise<void> {
    await handle.terminate('test cleanup').catch(() => undefined);
    for (const c of await containersOf(scenarioId)) await docker.getContainer(c.Id).remove({ force: true });
    await Promise.all(children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => {
      c.kill('SIGKILL');
      return new Promise((resolve) => c.once('exit', resolve));
    }));
  }

  /** The engine's create events for the scenario's container, as a live stream or over a past window. */
  const createFilter = (scenarioId: string) => ({ type: ['container' as const], event: ['create'], label: [`${LABELS.scenario}=${scenarioId}`, `${LABELS.role}=scenario`] });

  it('after a SIGKILL between create and record, the restarted worker adopts the container: scored, one create, nothing left', async () => {
    const scenarioId = scenarioIdFromJti(randomUUID());
    // The engine keeps only its last 256 events, in memory, and other tests share it: what was
    // created is recorded live, from before anything could be.
    const record = recordEngineEvents(docker, { event: ['create'], label: [`${LABELS.scenario}=${scenarioId}`, `${LABELS.role}=scenario`] });

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

      const creates = record.events;
      assert.equal(creates.length, 1, `exactly one container was ever created for the scenario: ${creates.length}`);
      assert.equal(creates[0]!.attributes.name, `arbiter-${scenarioId}`);
      assert.deepEqual(await containersOf(scenarioId), [], 'none is left');

      second.child.kill('SIGTERM');
      assert.equal(await second.exited, 0, 'the restarted worker shuts down gracefully');
    } finally {
      record.stop();
      await cleanup(handle, scenarioId);
    }
  });

  it('when the launch finds its container already run and stopped (the engine restarted mid-launch), the scenario fails with the exit code at once, not after the TTL', async () => {
    const scenarioId = scenarioIdFromJti(randomUUID());
    // What an engine restart between the container's start and the launch's record leaves behind:
    // the scenario's own container, from the pinned image, run and stopped.
    const image = await docker.getImage('arbiter/hello:1').inspect();
    const stopped = await docker.createContainer({
      name: `arbiter-${scenarioId}`,
      Image: image.Id,
      Cmd: ['/bin/sh', '-c', 'echo "hello, arbiter: scenario started"; exit 3'],
      User: '1000:1000',
      NetworkDisabled: true,
      HostConfig: { NetworkMode: 'none', ReadonlyRootfs: true, CapDrop: ['ALL'] },
      Labels: { [LABELS.managed]: 'true', [LABELS.scenario]: scenarioId, [LABELS.role]: 'scenario', [LABELS.host]: t.config.hostId },
    });
    await stopped.start();
    assert.equal(((await stopped.wait()) as { StatusCode: number }).StatusCode, 3);

    const input: ScenarioInput = {
      scenarioId, correlationId: randomUUID(), subject: 'alice', tenant: 'acme', plan: 'free',
      template: { id: 'hello', version: '1' }, track: 'intro', retentionDays: 7, createdAt: new Date().toISOString(),
    };
    // Started before any worker of its host runs, so it waits in "launching". A container worker of
    // another host on the same engine runs first: its monitor reports the stopped container while
    // the scenario is still launching, when an exit means nothing to it (the race in the wild:
    // the exit is reported before the launch is recorded). Then the scenario's own host comes up.
    const handle = await env.client.workflow.start(SCENARIO_WORKFLOW_TYPE, { taskQueue: MAIN_TASK_QUEUE, workflowId: scenarioId, args: [input] });
    await waitFor('the scenario launching', async () => ((await handle.query(statusQuery)).status === 'launching' ? true : undefined));
    const bystander = startContainerWorker({ ARBITER_HOST_ID: `${t.config.hostId}-b` });
    await waitFor('the exit reported while launching', async () => {
      const { events } = await handle.fetchHistory();
      return events?.some((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'containerExited') ? true : undefined;
    });
    bystander.child.kill('SIGTERM');
    assert.equal(await bystander.exited, 0);
    assert.equal((await handle.query(statusQuery)).status, 'launching');
    const worker = startContainerWorker();
    try {
      // The TTL is 30 minutes: without the launch's word the scenario would wait that long.
      const ended = await waitFor('the scenario to end', async () => {
        const s = await handle.query(statusQuery);
        return s.status === 'failed' || s.status === 'timed_out' || s.status === 'scored' ? s : undefined;
      }, 60_000);
      assert.equal(ended.status, 'failed', ended.reason);
      assert.match(ended.reason ?? '', /^environment_reset: service "main" exited \(code 3\) before completion$/);
      await handle.result();
      assert.deepEqual(await containersOf(scenarioId), [], 'the stopped container was removed');
      worker.child.kill('SIGTERM');
      assert.equal(await worker.exited, 0);
    } finally {
      await cleanup(handle, scenarioId);
    }
  });
});
