// Host loss and no host at all, on the real stack (dev server, Docker engine, API): the main
// worker's host watch, reading host reports, tells a running scenario its host is lost; it ends
// failed, host_lost, without asking the host anything, its lease is released and its audit log
// records the loss; the reconciler then removes what it left. A main worker whose hosts never
// reported fails a scenario with the reason; one whose host comes up during that wait launches
// there. The whole path with two real hosts, their engines
// and a SIGKILL is test/faults/hosts.test.ts's.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { DefaultLogger } from '@temporalio/worker';
import { createHostWorker, createMainWorker, bundleWorkflows } from '../../workers/workers.ts';
import { startHostWatch } from '../../workers/host-watch.ts';
import { writeHostReport } from '../../infra/host-reports.ts';
import { LocalArtifactStore } from '../../infra/artifact-store.ts';
import { resultsDir, RESULTS } from '../../infra/results.ts';
import { MAIN_TASK_QUEUE, MEMO, RECONCILE_WORKFLOW_TYPE, SCENARIO_WORKFLOW_TYPE } from '../../contract/queues.ts';
import { quotaQuery } from '../../contract/quota.ts';
import { quotaWorkflowId } from '../../lib/entity-ids.ts';
import { scenarioIdFromJti, type ScenarioInput, type ScenarioState } from '../../contract/scenario.ts';
import type { ReconcileReport } from '../../contract/reconcile.ts';
import { containersOf, waitFor } from '../support/harness.ts';
import { startStack, type Stack } from '../support/stack.ts';

describe('e2e: a lost host ends its scenarios host_lost; no host at all fails a scenario with the reason', () => {
  let s: Stack;
  const scratch: string[] = [];
  before(async () => {
    s = await startStack();
  });
  after(async () => {
    await s?.stop();
    for (const d of scratch) rmSync(d, { recursive: true, force: true });
  });

  it('a running scenario whose host stopped reporting ends failed, host_lost, its lease released, the loss audited; the reconciler removes its container', { timeout: 120_000 }, async () => {
    const hostId = s.t.config.hostId;
    const sat = await s.sat(await s.et('lost-1', 'acme', 'free'), 'hello', 'intro');
    const spawned = await s.call('POST', '/api/spawn', sat, {});
    assert.equal(spawned.status, 202, JSON.stringify(spawned.json));
    const id = spawned.json!.scenarioId as string;
    await waitFor(`${id} running`, async () => ((await s.call('GET', `/api/scenarios/${id}`, sat)).json?.status === 'running' ? true : undefined), 60_000);
    const quota = s.env.client.workflow.getHandle(quotaWorkflowId('acme', 'lost-1'));
    assert.ok(id in (await quota.query(quotaQuery)).leases);

    // The watch reads reports where the host's last one is a minute old (the stack's own host keeps
    // reporting into the stack's storage: this is how its reports look once it is gone).
    const reports = mkdtempSync(join(tmpdir(), 'arbiter-reports-'));
    scratch.push(reports);
    const lastReportAt = Date.now() - 60_000;
    await writeHostReport(new LocalArtifactStore(reports), { hostId, running: 1, capacity: 32, reportedAt: lastReportAt });
    const watch = startHostWatch({ client: s.env.client, store: new LocalArtifactStore(reports), hosts: [hostId], lostAfterMs: 10_000, log: { info: () => undefined, warn: () => undefined }, tickMs: 500 });
    let final: ScenarioState;
    try {
      final = await s.env.client.workflow.getHandle(id).result() as ScenarioState;
    } finally {
      await watch.stop();
    }
    assert.equal(final.status, 'failed');
    assert.equal(final.reason, `host_lost: container host "${hostId}" stopped answering (last report ${new Date(lastReportAt).toISOString()}); its containers and whatever the scenario did in them are out of reach`);
    await waitFor('the lease released', async () => (id in (await quota.query(quotaQuery)).leases ? undefined : true), 30_000);

    const audit = readFileSync(join(resultsDir(s.t.config.storageDir, id), RESULTS.audit), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; data?: Record<string, unknown> });
    const lost = audit.find((e) => e.event === 'host.lost');
    assert.ok(lost, 'the loss is in the audit log');
    assert.equal(lost.data?.hostId, hostId);
    assert.match(String(lost.data?.evidence), /^none collected/);
    const history = await s.env.client.workflow.getHandle(id).fetchHistory();
    const scheduled = (history.events ?? []).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean);
    assert.deepEqual(scheduled, ['launchContainer'], 'nothing was asked of the lost host after the launch (no evidence, no teardown)');

    // Its container is still on the (here, living) engine: the reconciler judges it by its closed workflow.
    assert.equal((await containersOf(id)).length, 1);
    const report = await s.env.client.workflow.execute(RECONCILE_WORKFLOW_TYPE, { taskQueue: MAIN_TASK_QUEUE, workflowId: `reconcile-${randomUUID()}`, args: [] }) as ReconcileReport;
    assert.deepEqual(report.hosts.find((h) => h.hostId === hostId)?.removed.map((r) => r.scenarioId), [id]);
    assert.deepEqual(await containersOf(id), []);

    // A new spawn within the quota succeeds.
    const again = await s.call('POST', '/api/spawn', await s.sat(await s.et('lost-1', 'acme', 'free'), 'hello', 'intro'), {});
    assert.equal(again.status, 202, JSON.stringify(again.json));
  });

  it('with no host answering, a scenario waits, then fails saying no container host is available and naming the silent hosts', { timeout: 120_000 }, async () => {
    const taskQueue = `arbiter-main-${randomUUID()}`;
    const { worker } = await createMainWorker({
      config: s.t.config, connection: s.env.nativeConnection, client: s.env.client, workflowBundle: await bundleWorkflows(new DefaultLogger('WARN')), hostIds: ['nowhere'], extra: { taskQueue },
    });
    const id = scenarioIdFromJti(randomUUID());
    const input: ScenarioInput = {
      scenarioId: id, correlationId: randomUUID(), subject: 'nohost', tenant: 'acme', plan: 'free',
      template: { id: 'hello', version: '1' }, track: 'intro', retentionDays: 7, createdAt: new Date().toISOString(),
    };
    const started = Date.now();
    const state = await worker.runUntil(s.env.client.workflow.execute(SCENARIO_WORKFLOW_TYPE, { taskQueue, workflowId: id, args: [input] }) as Promise<ScenarioState>);
    assert.equal(state.status, 'failed');
    assert.equal(state.reason, 'no container host is available: none answered in the last 10s (nowhere (never reported))');
    assert.ok(Date.now() - started >= 20_000, 'it waited for a host first');
    assert.deepEqual(await containersOf(id), []);
  });

  it('a scenario waiting for a host launches on one that comes up during the wait', { timeout: 120_000 }, async () => {
    const taskQueue = `arbiter-main-${randomUUID()}`;
    const lateHost = `late-${randomUUID().slice(0, 8)}`;
    const { worker } = await createMainWorker({
      config: s.t.config, connection: s.env.nativeConnection, client: s.env.client, workflowBundle: await bundleWorkflows(new DefaultLogger('WARN')), hostIds: [lateHost], extra: { taskQueue },
    });
    const id = scenarioIdFromJti(randomUUID());
    const input: ScenarioInput = {
      scenarioId: id, correlationId: randomUUID(), subject: 'late', tenant: 'acme', plan: 'free',
      template: { id: 'hello', version: '1' }, track: 'intro', retentionDays: 7, createdAt: new Date().toISOString(),
    };
    const handle = await s.env.client.workflow.start(SCENARIO_WORKFLOW_TYPE, { taskQueue, workflowId: id, args: [input] });
    const state = await worker.runUntil(async () => {
      // Admission is one local activity: while its host pick keeps failing and being retried, the
      // worker keeps the workflow task alive by completing it without its result. A second
      // completed workflow task with no admission marker yet means the pick found no host and is
      // still trying.
      await waitFor('the host pick retrying', async () => {
        const events = (await handle.fetchHistory()).events ?? [];
        const admitted = events.some((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity');
        return events.filter((e) => e.workflowTaskCompletedEventAttributes).length >= 2 && !admitted ? true : undefined;
      }, 60_000);
      const config = Object.freeze({ ...s.t.config, hostId: lateHost, access: { ...s.t.config.access, listen: `unix:${join(s.t.config.access.socketDir, `${lateHost}.sock`)}` } });
      const host = await createHostWorker({ config, connection: s.env.nativeConnection, client: s.env.client });
      return host.runUntil(async () => {
        const running = await waitFor(`${id} running`, async () => {
          const current = (await handle.describe()).memo?.[MEMO.scenarioState] as ScenarioState | undefined;
          return current?.status === 'running' ? current : undefined;
        }, 60_000);
        assert.equal(running.hostId, lateHost);
        assert.equal((await containersOf(id)).length, 1, 'its container runs on the engine');
        await handle.cancel();
        await assert.rejects(handle.result(), /cancel/i);
        return (await handle.describe()).memo?.[MEMO.scenarioState] as ScenarioState;
      });
    });
    assert.equal(state.status, 'cancelled');
    assert.deepEqual(await containersOf(id), []);
  });
});
