// The container runtime end to end, on the real Temporal dev server, Docker engine, OPA bundle,
// workers and API: the probe proves the isolation from inside its container, a realistic
// challenge is scored from the state the subject left behind, published templates are pinned
// through to the image that runs, and the reconciler removes what no live workflow owns.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { hardenedSpec, LABELS } from '../../activities/container-spec.ts';
import { demuxDockerLog } from '../../activities/collect-evidence.ts';
import { resultsDir, RESULTS } from '../../infra/results.ts';
import { DEFAULT_TEMPLATES_DIR } from '../../infra/template.ts';
import { PUBLISHED_FILE, publishTemplate, readPublished } from '../../infra/template-publication.ts';
import type { ScoreResult } from '../../infra/verdict.ts';
import { createMainWorker, WORKFLOWS_PATH } from '../../workers/workers.ts';
import { ensureReconcileSchedule } from '../../workers/reconcile-schedule.ts';
import { SCENARIO_WORKFLOW_TYPE } from '../../contract/queues.ts';
import { scenarioIdFromJti, type ScenarioInput, type ScenarioState } from '../../contract/scenario.ts';
import type { ReconcileReport } from '../../contract/reconcile.ts';
import { containersOf, docker, waitFor } from '../support/harness.ts';
import { startStack, type Stack } from '../support/stack.ts';

describe('container runtime: isolation proof, template pinning, reconciliation', () => {
  let s: Stack;
  let bundle: { code: string };
  const scratch: string[] = [];
  const strayContainers: string[] = [];

  before(async () => {
    s = await startStack();
    bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
  });

  after(async () => {
    for (const id of strayContainers) await docker.getContainer(id).remove({ force: true }).catch(() => undefined);
    await s?.stop();
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  });

  /** Spawns through the API and waits until the container runs; returns what the subject's host holds. */
  async function spawnRunning(template: string, track: string, plan: string) {
    const sat = await s.sat(await s.et('alice', 'acme', plan), template, track);
    const spawned = await s.call('POST', '/api/spawn', sat, {});
    assert.equal(spawned.status, 202, JSON.stringify(spawned.json));
    const id = spawned.json!.scenarioId as string;
    await waitFor(`${id} running`, async () => {
      const r = await s.call('GET', `/api/scenarios/${id}`, sat);
      if (r.json?.status === 'failed' || r.json?.status === 'denied') throw new Error(`scenario ${String(r.json.status)}: ${String(r.json.reason)}`);
      return r.json?.status === 'running' ? true : undefined;
    }, 60_000);
    const [listed] = await containersOf(id);
    const completionToken = await s.completionToken(id);
    return { id, sat, containerId: listed!.Id, completionToken };
  }

  async function completeAndScore(id: string, sat: string, completionToken: string, submission: Record<string, unknown>): Promise<ScenarioState> {
    const done = await s.call('POST', `/api/scenarios/${id}/complete`, completionToken, { outcome: 'success', submission });
    assert.equal(done.status, 202, JSON.stringify(done.json));
    return waitFor(`${id} scored`, async () => {
      const r = await s.call('GET', `/api/scenarios/${id}`, sat);
      if (r.json?.status === 'failed') throw new Error(`scenario failed: ${String(r.json.reason)}`);
      return r.json?.status === 'scored' ? (r.json as unknown as ScenarioState) : undefined;
    }, 90_000);
  }

  const evidence = (id: string, name: string) => readFileSync(join(resultsDir(s.t.config.storageDir, id), RESULTS.evidenceDir, name), 'utf8');
  const evidenceJson = <T = Record<string, unknown>>(id: string, name: string) => JSON.parse(evidence(id, name)) as T;

  it('the engine cannot give containers a network: /readyz reports the isolation check ok', async () => {
    const r = await s.call('GET', '/readyz');
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal((r.json!.checks as Record<string, string>).isolation, 'ok');
  });

  it('the probe scenario proves every isolation item from inside its container, and its verdict scores each one', async () => {
    const { id, sat, containerId, completionToken } = await spawnRunning('probe', 'intro', 'free');
    // The probe reports once, within seconds; the scenario is completed after it has.
    await waitFor('the probe report', async () => {
      const log = demuxDockerLog(await docker.getContainer(containerId).logs({ stdout: true, stderr: true, follow: false }));
      return log.includes('arbiter-probe: {') ? true : undefined;
    }, 30_000);
    const state = await completeAndScore(id, sat, completionToken, {});

    // Read from /work inside the running container before teardown, byte for byte.
    const files = evidenceJson<Array<{ path: string; status: string; size: number; sha256: string }>>(id, 'files.json');
    assert.deepEqual(files.map((f) => [f.path, f.status]), [['/work/probe.json', 'collected']]);
    const report = evidenceJson<{
      uid: number; interfaces: string[]; rootWritable: boolean; workWritable: boolean; capEff: string; capBnd: string; noNewPrivs: number; seccomp: number;
      forkBomb: { refused: boolean; started: number; pidsMax: number; pidsLimitHits: number };
      memoryHog: { exitCode: number; oomKills: number; memoryLimitBytes: number };
    }>(id, 'files/work/probe.json');
    assert.deepEqual(report.interfaces, ['lo'], 'only the loopback interface');
    assert.equal(report.rootWritable, false, '/ is not writable');
    assert.equal(report.workWritable, true, 'the tmpfs /work is');
    assert.notEqual(report.uid, 0);
    assert.equal(report.capEff, '0000000000000000', 'no effective capability');
    assert.equal(report.capBnd, '0000000000000000', 'none left to gain either');
    assert.equal(report.noNewPrivs, 1);
    // This engine has seccomp (docker info: name=seccomp,profile=default) and the kernel reports
    // the filter mode; runsc would show gVisor instead (DESIGN.md), runc must show mode 2.
    assert.equal(report.seccomp, 2, 'seccomp filter mode');
    assert.equal(report.forkBomb.refused, true, 'the fork bomb was refused a fork');
    assert.equal(report.forkBomb.pidsMax, 32, 'under the template pids limit');
    assert.ok(report.forkBomb.started < report.forkBomb.pidsMax, `it got ${report.forkBomb.started} children, fewer than the limit`);
    assert.ok(report.forkBomb.pidsLimitHits >= 1, 'and it was the pids cgroup that refused');
    assert.equal(report.memoryHog.exitCode, 137, 'the memory hog was SIGKILLed');
    assert.ok(report.memoryHog.oomKills >= 1, 'by the OOM killer of its memory cgroup');
    assert.equal(report.memoryHog.memoryLimitBytes, 48 * 1024 * 1024);

    // The engine's view and the in-container view of an exec'd process agree with it.
    const engine = evidenceJson(id, 'isolation.json');
    assert.equal(engine.networkMode, 'none');
    assert.equal(engine.readonlyRootfs, true);
    assert.deepEqual(engine.capDrop, ['ALL']);
    const observed = evidenceJson(id, 'isolation-observed.json');
    const { kernelRelease, ...rest } = observed;
    assert.deepEqual(rest, { observed: true, uid: 1000, interfaces: ['lo'], rootWritable: false, capEff: '0000000000000000', noNewPrivs: 1, seccomp: 2, kernel: 'host' });
    assert.equal(kernelRelease, execSync('uname -r').toString().trim(), 'under runc the host\'s kernel answers');

    const score = JSON.parse(readFileSync(join(resultsDir(s.t.config.storageDir, id), RESULTS.score), 'utf8')) as ScoreResult;
    assert.deepEqual(score.checks.filter((c) => !c.passed), [], 'every isolation check passed');
    assert.equal(score.checks.length, 11);
    assert.deepEqual(state.score, { score: 11, maxScore: 11, passed: true });
    assert.deepEqual(await containersOf(id), [], 'no container is left');
  });

  it('log-triage: the answer the subject writes in its container is collected before teardown and scored outside it', async () => {
    const { id, sat, containerId, completionToken } = await spawnRunning('log-triage', 'forensics', 'pro');
    // The subject at work, in a shell inside the scenario container: read the log, write the answer.
    const exec = await docker.getContainer(containerId).exec({
      Cmd: ['/bin/sh', '-c', "awk '/Accepted password/ { print $11, $9 }' /var/log/bastion/auth.log > /work/answer.txt"],
      AttachStdout: true, AttachStderr: true,
    });
    const stream = await exec.start({ hijack: true, stdin: false });
    await new Promise((resolve) => { stream.on('end', resolve); stream.resume(); });
    assert.equal((await exec.inspect()).ExitCode, 0);

    const state = await completeAndScore(id, sat, completionToken, { note: 'found it' });
    assert.deepEqual(state.score, { score: 3, maxScore: 3, passed: true });
    assert.equal(evidence(id, 'files/work/answer.txt'), '203.0.113.77 deploy\n');
    assert.equal(evidenceJson<Array<{ status: string }>>(id, 'files.json')[0]!.status, 'collected');
    const manifest = evidenceJson<{ files: Array<{ path: string }> }>(id, 'manifest.json');
    assert.ok(manifest.files.some((f) => f.path === 'files/work/answer.txt'), 'the collected file is bound by the signed manifest');
    assert.deepEqual(await containersOf(id), []);
  });

  /** A copy of the templates, edited by `tamper`, served by a main worker on a queue of its own. */
  async function runWithTemplates(tamper: (root: string) => void): Promise<{ state: ScenarioState; id: string }> {
    const root = mkdtempSync(join(tmpdir(), 'arbiter-templates-'));
    scratch.push(root);
    cpSync(DEFAULT_TEMPLATES_DIR, root, { recursive: true });
    tamper(root);
    const taskQueue = `arbiter-main-${randomUUID()}`;
    const { worker } = await createMainWorker({
      config: s.t.config, connection: s.env.nativeConnection, client: s.env.client, workflowBundle: bundle, templatesDir: root, extra: { taskQueue },
    });
    const id = scenarioIdFromJti(randomUUID());
    const input: ScenarioInput = {
      scenarioId: id, correlationId: randomUUID(), subject: 'mallory', tenant: 'acme', plan: 'free',
      template: { id: 'hello', version: '1' }, track: 'intro', retentionDays: 7, createdAt: new Date().toISOString(),
    };
    const state = await worker.runUntil(s.env.client.workflow.execute(SCENARIO_WORKFLOW_TYPE, { taskQueue, workflowId: id, args: [input] }) as Promise<ScenarioState>);
    return { state, id };
  }

  it('a published template whose files changed is refused at launch: the scenario is denied and no container is created', async () => {
    const { state, id } = await runWithTemplates((root) => appendFileSync(join(root, 'hello', '1', 'image', 'run.sh'), 'echo tampered\n'));
    assert.equal(state.status, 'denied');
    assert.match(state.reason ?? '', /template hello@1 was published with digest [0-9a-f]{64} but its files now hash to [0-9a-f]{64}.*new version/);
    assert.deepEqual(await containersOf(id), []);
  });

  it('an image not built from the pinned template digest is refused at launch, even when the template itself is consistent', async () => {
    // The edit is "published" in the copy, so entitlements and policy accept it; the image on the
    // engine was built from the real hello@1, and launch must notice.
    const { state, id } = await runWithTemplates((root) => {
      appendFileSync(join(root, 'hello', '1', 'image', 'run.sh'), 'echo tampered\n');
      const published = readPublished(root);
      delete published['hello@1'];
      writeFileSync(join(root, PUBLISHED_FILE), JSON.stringify(published));
      publishTemplate({ id: 'hello', version: '1' }, root);
    });
    assert.equal(state.status, 'failed');
    assert.match(state.reason ?? '', /image arbiter\/hello:1 was built from template digest [0-9a-f]{64}, not the pinned [0-9a-f]{64}/);
    assert.deepEqual(await containersOf(id), []);
  });

  it('the reconciler schedule removes labelled containers whose workflow is unknown or closed, keeps live ones, and reports what it removed', async () => {
    const hostId = s.t.config.hostId;
    const live = await spawnRunning('hello', 'intro', 'free');
    // A scenario whose workflow is over (denied: its copy of hello@1 was edited).
    const closed = await runWithTemplates((root) => appendFileSync(join(root, 'hello', '1', 'template.json'), '\n'));
    const orphan = async (scenarioId: string, host: string) => {
      const c = await docker.createContainer(hardenedSpec({
        name: `arbiter-${scenarioId}`, image: 'arbiter/hello:1', user: '1000:1000', limits: { memoryMb: 16, cpus: 0.1, pids: 8, tmpfsMb: 1 },
        labels: { [LABELS.scenario]: scenarioId, [LABELS.role]: 'scenario', [LABELS.host]: host },
      }));
      strayContainers.push(c.id);
      return c.id;
    };
    const unknownId = scenarioIdFromJti(randomUUID());
    const unknown = await orphan(unknownId, hostId);
    const closedLeft = await orphan(closed.id, hostId);
    const otherHost = await orphan(scenarioIdFromJti(randomUUID()), 'someone-else');

    const scheduleId = `arbiter-reconcile-${randomUUID()}`;
    assert.deepEqual(await ensureReconcileSchedule(s.env.client, { scheduleId }), { scheduleId, created: true });
    assert.deepEqual(await ensureReconcileSchedule(s.env.client, { scheduleId }), { scheduleId, created: false }, 'a second start keeps the one schedule');
    const schedule = s.env.client.schedule.getHandle(scheduleId);
    await schedule.trigger();
    const workflowId = await waitFor('the triggered reconcile run', async () => {
      const action = (await schedule.describe()).info.recentActions.at(-1)?.action;
      return action?.type === 'startWorkflow' ? action.workflow.workflowId : undefined;
    });
    const report = await s.env.client.workflow.getHandle(workflowId).result() as ReconcileReport;
    await schedule.delete();

    const mine = report.hosts.find((h) => h.hostId === hostId);
    assert.ok(mine && !mine.error, JSON.stringify(report));
    const removed = Object.fromEntries(mine.removed.map((r) => [r.scenarioId, r.workflowStatus]));
    assert.equal(closed.state.status, 'denied');
    assert.deepEqual(removed, { [unknownId]: 'UNKNOWN', [closed.id]: 'COMPLETED' });
    assert.equal(report.removed, 2);
    assert.ok(mine.kept >= 1, 'the live scenario container is kept');

    const exists = async (cid: string) => docker.getContainer(cid).inspect().then(() => true, () => false);
    assert.equal(await exists(unknown), false);
    assert.equal(await exists(closedLeft), false);
    assert.equal(await exists(live.containerId), true, 'a container whose workflow runs is never touched');
    assert.equal(await exists(otherHost), true, "another host's container is not this host's to judge");
  });
});
