// Retention of scenarios that ended without a verdict, in the time-skipping environment, with the
// real workflow bundle, Docker, policy, storage and the API (app.inject) on the same test server.
// One story, in order: three scenarios fail (their container killed) on the pro plan (30 days), one
// is denied and one times out on the free plan (7 days); one failed one is held. Each keeps its
// audit log and evidence from its end; 7 days on, the free-plan ones are deleted with a tombstone
// and read "expired" while the failed ones stay; 30 days on, the unheld failed one goes too, the
// held one stays, a sweep deletes the one whose retention workflow was lost, and releasing the
// hold deletes the last.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Client, type WorkflowHandle } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { buildApp } from '../../api/app.ts';
import { verifyChainText, type AuditEntry } from '../../lib/audit-chain.ts';
import { operatorAuditLog, operatorAuditPath } from '../../infra/operator-audit.ts';
import { loadPlans } from '../../infra/plans.ts';
import { resultsDir, RESULTS, scenarioDir } from '../../infra/results.ts';
import { tombstonePath } from '../../infra/retention-storage.ts';
import { mintToken } from '../../infra/tokens.ts';
import { statusQuery, type ScenarioInput, type ScenarioState } from '../../contract/scenario.ts';
import { retentionQuery, retentionWorkflowId, type RetentionInput, type RetentionState, type Tombstone } from '../../contract/retention.ts';
import { MAIN_TASK_QUEUE, SCENARIO_WORKFLOW_TYPE } from '../../contract/queues.ts';
import { scenarioInput } from '../support/scenario-input.ts';
import { containersOf, docker, waitFor, type TestConfig } from '../support/harness.ts';
import { injector } from '../support/inject.ts';
import { buildTestTemplates } from '../support/templates.ts';
import { startTimeSkipping, type TimeSkipping } from '../support/time-skipping.ts';

const DAY_MS = 24 * 3600 * 1000;
const TEMPLATE = 'retained-ended';

describe('retention of scenarios that ended without a verdict (time-skipping)', () => {
  let env: TestWorkflowEnvironment;
  let t: TestConfig;
  let ts: TimeSkipping;
  let templatesDir: string;
  let app: FastifyInstance;
  let operator: string;
  let subjectEt: string;
  /** pro plan, container killed: expires on its own; held; loses its retention workflow (the sweep's case) */
  let failed: ScenarioState, held: ScenarioState, orphan: ScenarioState;
  /** free plan: nobody completes it within its TTL; the policy refuses its track */
  let timedOut: ScenarioState, denied: ScenarioState;

  before(async () => {
    ts = await startTimeSkipping();
    ({ env, t } = ts);
    templatesDir = await buildTestTemplates([{ id: TEMPLATE, scorer: 'echo \'{"score":0,"maxScore":1,"passed":false}\'\n' }]);
    await ts.startWorkers(templatesDir);
    // Not env.client: a time-skipping client awaiting a result (the sweep awaits the retention it
    // restarts) lets the server skip to any timer. Here time moves only where the test says so.
    app = await buildApp({ config: t.config, temporal: new Client({ connection: env.connection, namespace: env.namespace ?? 'default' }), plans: loadPlans(), templatesDir, checks: {}, retentionClock: () => env.currentTimeMs() });
    operator = (await mintToken('operator', { sub: 'olga', role: 'operator' }, t.config.secrets.OPERATOR_HMAC_SECRET!, { ttlSeconds: 3600 })).token;
    subjectEt = (await mintToken('et', { sub: 'alice', tenant: 'acme', plan: 'pro' }, t.config.secrets.ET_HMAC_SECRET!, { ttlSeconds: 3600 })).token;

    [failed, held, orphan, denied] = await Promise.all([killed(), killed(), killed(), refused()]);
    // The TTL passes in workflow time: the test server skips to its timer.
    const input = scenarioInput({ plan: 'free', template: { id: TEMPLATE, version: '1' } });
    const handle = await start(input);
    const { ttlSeconds } = await running(handle);
    await env.sleep(ttlSeconds! * 1000);
    timedOut = await closed(handle, 'timed_out');
  });

  after(async () => {
    await app?.close();
    await ts?.stop();
    if (templatesDir) rmSync(templatesDir, { recursive: true, force: true });
    for (const tag of [`arbiter-test/${TEMPLATE}:1`, `arbiter-test/${TEMPLATE}-scorer:1`]) await docker.getImage(tag).remove({ force: true }).catch(() => undefined);
  });

  const start = (input: ScenarioInput) => env.client.workflow.start(SCENARIO_WORKFLOW_TYPE, { taskQueue: MAIN_TASK_QUEUE, workflowId: input.scenarioId, args: [input] });
  const running = (handle: WorkflowHandle) => waitFor('the scenario to be running', async () => {
    const s = await handle.query(statusQuery);
    return s.status === 'running' ? s : undefined;
  });
  /** Polled, never awaited with result(): that would let the test server skip to a retention timer. */
  const closed = (handle: WorkflowHandle, status: string) => waitFor(`the scenario to end ${status}`, async () => {
    if ((await handle.describe()).status.name === 'RUNNING') return undefined;
    const s = await handle.query(statusQuery);
    assert.equal(s.status, status, s.reason);
    return s;
  });

  async function killed(): Promise<ScenarioState> {
    const handle = await start(scenarioInput({ plan: 'pro', template: { id: TEMPLATE, version: '1' } }));
    await running(handle);
    const [container] = await containersOf(handle.workflowId);
    await docker.getContainer(container!.Id).kill({ signal: 'SIGKILL' });
    return closed(handle, 'failed');
  }

  async function refused(): Promise<ScenarioState> {
    // The free plan has no "web" track.
    return closed(await start(scenarioInput({ plan: 'free', track: 'web', template: { id: TEMPLATE, version: '1' } })), 'denied');
  }

  const call = injector(() => app);
  /** What the (latest) retention workflow of a scenario was started with, from its history. */
  const retentionInput = async (s: ScenarioState): Promise<RetentionInput> => {
    const history = await env.client.workflow.getHandle(retentionWorkflowId(s.scenarioId)).fetchHistory();
    const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    return JSON.parse(Buffer.from(payload!.data!).toString('utf8')) as RetentionInput;
  };
  const retentionOf = (s: ScenarioState) => env.client.workflow.getHandle(retentionWorkflowId(s.scenarioId)).query(retentionQuery);
  const expired = (s: ScenarioState) => waitFor(`${s.status} ${s.scenarioId} to expire`, async () => {
    const r = await retentionOf(s);
    return r.status === 'expired' ? r : undefined;
  });
  /** Moves the test server's clock just past a deadline: it skips to every timer up to there. */
  const passDeadline = async (r: RetentionState) => env.sleep(Math.max(0, Date.parse(r.deleteAfter) - await env.currentTimeMs()) + 1000);
  const results = (s: ScenarioState) => resultsDir(t.config.storageDir, s.scenarioId);
  const tombstoneOf = (s: ScenarioState) => JSON.parse(readFileSync(tombstonePath(t.config.storageDir, s.scenarioId), 'utf8')) as Tombstone;
  const operatorEntries = () => readFileSync(operatorAuditPath(t.config.storageDir), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEntry);
  const view = async (s: ScenarioState) => (await call('GET', `/api/scenarios/${s.scenarioId}`, operator)).json!;
  /** Every path and mtime under a scenario's folder: equal before and after means nothing changed. */
  const snapshot = (s: ScenarioState) => {
    const dir = scenarioDir(t.config.storageDir, s.scenarioId);
    return readdirSync(dir, { recursive: true }).map(String).sort().map((p) => `${p}@${statSync(join(dir, p)).mtimeMs}`);
  };

  /** Deleted with a tombstone and audited, as a scored scenario is; only its audit log is left. */
  async function assertExpired(s: ScenarioState, r: RetentionState, endedAs: string) {
    const tomb = tombstoneOf(s);
    assert.equal(tomb.deletedAt, r.deletedAt);
    assert.equal(tomb.endedAs, endedAs, 'the tombstone says how the scenario ended');
    assert.equal(tomb.verdict, null, 'there never was a verdict');
    assert.deepEqual(readdirSync(results(s)), [RESULTS.audit], 'only the audit log is left of the results');
    const audit = readFileSync(join(results(s), RESULTS.audit), 'utf8');
    const chain = verifyChainText(audit);
    assert.ok(chain.ok, JSON.stringify(chain));
    assert.equal(chain.head, tomb.auditHead, 'the tombstone names the audit head that records the deletion');
    assert.match(audit, new RegExp(`status\\.${endedAs}`), 'the audit log still says how it ended');
    assert.match(audit, /retention\.deleted/);
    assert.ok(operatorEntries().some((e) => e.event === 'scenario.deleted' && e.data?.scenarioId === s.scenarioId));

    const v = await view(s);
    assert.equal(v.status, 'expired');
    assert.equal(v.updatedAt, tomb.deletedAt);
    assert.match(String(v.reason), new RegExp(`^artifacts deleted by retention; it had ended ${endedAs}`));
    const verdict = await call('GET', `/api/scenarios/${s.scenarioId}/verdict`, operator);
    assert.equal(verdict.status, 409, 'never scored: there was never a verdict to delete');
    assert.equal((await call('POST', `/api/scenarios/${s.scenarioId}/hold`, operator)).status, 409, 'nothing left to hold');
  }

  it('a failed scenario closes as "failed" while its retention workflow counts the pro plan\'s 30 days from its end, keeping its evidence and audit log', async () => {
    const r = await retentionOf(failed);
    assert.equal(r.status, 'retained');
    assert.equal(Date.parse(r.deleteAfter) - Date.parse(failed.updatedAt), 30 * DAY_MS);
    const input = await retentionInput(failed);
    assert.deepEqual({ endedAt: input.endedAt, scoredAt: input.scoredAt, plan: input.plan, retentionDays: input.retentionDays, tenant: input.tenant }, { endedAt: failed.updatedAt, scoredAt: undefined, plan: 'pro', retentionDays: 30, tenant: 'acme' });
    const v = await call('GET', `/api/scenarios/${failed.scenarioId}`, subjectEt);
    assert.equal(v.status, 200);
    assert.equal(v.json!.status, 'failed');
    assert.match(String(v.json!.reason), /^environment_reset/);
    assert.deepEqual(v.json!.retention, { status: 'retained', deleteAfter: r.deleteAfter, held: false });
    assert.ok(existsSync(join(results(failed), RESULTS.evidenceDir, 'container.log')), 'its evidence is kept');
    assert.ok(existsSync(join(results(failed), RESULTS.audit)), 'its audit log is kept');
  });

  it('a timed-out and a denied scenario on the free plan count its 7 days from their ends', async () => {
    for (const s of [timedOut, denied]) {
      const r = await retentionOf(s);
      assert.equal(r.status, 'retained', s.status);
      assert.equal(Date.parse(r.deleteAfter) - Date.parse(s.updatedAt), 7 * DAY_MS, s.status);
      assert.deepEqual((await view(s)).retention, { status: 'retained', deleteAfter: r.deleteAfter, held: false });
    }
    assert.ok(existsSync(join(results(timedOut), RESULTS.evidenceDir, 'container.log')), 'the timed-out one\'s evidence is kept');
    assert.deepEqual(readdirSync(results(denied)), [RESULTS.audit], 'a denied scenario left only its audit log');
  });

  it('a failed scenario can be held through the API, audited in both logs', async () => {
    assert.equal((await call('POST', `/api/scenarios/${held.scenarioId}/hold`, subjectEt)).status, 403);
    assert.equal((await call('POST', `/api/scenarios/${held.scenarioId}/hold`, operator, { reason: 'incident 7' })).status, 204);
    const r = await waitFor('the hold to reach the workflow', async () => ((await retentionOf(held)).held ? retentionOf(held) : undefined));
    assert.equal(r.status, 'held');
    await waitFor('the hold in the scenario audit log', async () => (/retention\.hold/.test(readFileSync(join(results(held), RESULTS.audit), 'utf8')) ? true : undefined));
    // The activity writes the scenario's log, then the operator log: the second may follow a moment later.
    await waitFor('the hold in the operator audit log', async () => (existsSync(operatorAuditPath(t.config.storageDir)) && operatorEntries().some((e) => e.event === 'scenario.hold' && e.data?.scenarioId === held.scenarioId && e.actor === 'operator:olga') ? true : undefined));
  });

  it('before any retention is over, a sweep deletes nothing: the held one is listed as held, the others kept', async () => {
    const r = await call('POST', '/api/retention/sweep', operator, { dryRun: false });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(r.json, { dryRun: false, deleted: [], held: [held.scenarioId], kept: [failed, orphan, timedOut, denied].map((s) => s.scenarioId).sort() });
  });

  it('7 days on, the timed-out and the denied scenario are deleted with a tombstone and read "expired"; the failed ones keep everything', async () => {
    const evidence = readdirSync(join(results(timedOut), RESULTS.evidenceDir));
    await passDeadline(await retentionOf(timedOut));
    await assertExpired(timedOut, await expired(timedOut), 'timed_out');
    assert.deepEqual(tombstoneOf(timedOut).removed, [RESULTS.evidenceDir], 'the evidence went');
    assert.ok(evidence.includes('container.log'));
    assert.match(String((await view(timedOut)).reason), /it had ended timed_out: no completion within 1800s$/);

    await assertExpired(denied, await expired(denied), 'denied');
    assert.deepEqual(tombstoneOf(denied).removed, [], 'a denied scenario had nothing but its audit log');
    assert.ok(Array.isArray((await view(denied)).reasons), 'the policy\'s reasons are still shown');

    for (const s of [failed, held, orphan]) {
      assert.notEqual((await retentionOf(s)).status, 'expired');
      assert.ok(existsSync(join(results(s), RESULTS.evidenceDir, 'container.log')), 'a failed scenario\'s evidence stays until its own deadline');
      assert.equal((await view(s)).status, 'failed');
    }
  });

  it('30 days on, the unheld failed scenario is deleted with a tombstone and reads "expired"; the held one survives its deadline', async () => {
    // The orphan loses its retention workflow first, as when an operator terminates it by hand.
    await env.client.workflow.getHandle(retentionWorkflowId(orphan.scenarioId)).terminate('lost retention (test)');
    await passDeadline(await retentionOf(failed));

    await assertExpired(failed, await expired(failed), 'failed');
    assert.deepEqual(tombstoneOf(failed).removed, [RESULTS.evidenceDir]);
    assert.match(String((await view(failed)).reason), /it had ended failed: environment_reset: service "main" exited \(code 137\)/);

    const r = await retentionOf(held);
    assert.equal(r.status, 'held');
    assert.ok(Date.parse(r.deleteAfter) < await env.currentTimeMs(), 'past its deadline');
    assert.ok(existsSync(join(results(held), RESULTS.evidenceDir, 'container.log')), 'the held scenario\'s evidence is still there');
    assert.equal((await view(held)).status, 'failed');
  });

  it('a dry-run sweep lists the overdue failed orphan and the held one and changes nothing; the real sweep deletes the orphan', async () => {
    const before = { orphan: snapshot(orphan), held: snapshot(held), log: readFileSync(operatorAuditPath(t.config.storageDir)) };
    const dry = await call('POST', '/api/retention/sweep', operator, { dryRun: true });
    assert.equal(dry.status, 200, JSON.stringify(dry.json));
    assert.deepEqual(dry.json, { dryRun: true, deleted: [orphan.scenarioId], held: [held.scenarioId], kept: [] });
    assert.deepEqual(snapshot(orphan), before.orphan, 'the orphan is untouched');
    assert.deepEqual(snapshot(held), before.held, 'the held scenario is untouched');
    assert.ok(readFileSync(operatorAuditPath(t.config.storageDir)).equals(before.log), 'not even the audit log changed');

    const real = await call('POST', '/api/retention/sweep', operator, { dryRun: false });
    assert.deepEqual(real.json, { dryRun: false, deleted: [orphan.scenarioId], held: [held.scenarioId], kept: [] });
    await assertExpired(orphan, await expired(orphan), 'failed');
    // The sweep timed the new retention from the end the audit log records, with the plan's days.
    const input = await retentionInput(orphan);
    assert.deepEqual({ endedAt: input.endedAt, plan: input.plan, retentionDays: input.retentionDays, tenant: input.tenant }, { endedAt: orphan.updatedAt, plan: 'pro', retentionDays: 30, tenant: 'acme' });
    // Restarted past its deadline, the retention deletes at once, by itself; the sweep is the operator's.
    assert.ok(operatorEntries().some((e) => e.event === 'retention.sweep' && e.actor === 'operator:olga'));
  });

  it('releasing the hold after the retention is over deletes the held failed scenario at once', async () => {
    assert.equal((await call('DELETE', `/api/scenarios/${held.scenarioId}/hold`, operator)).status, 204);
    await assertExpired(held, await expired(held), 'failed');
    const events = operatorEntries().filter((e) => e.data?.scenarioId === held.scenarioId).map((e) => e.event);
    assert.deepEqual(events, ['scenario.hold', 'scenario.release', 'scenario.deleted']);
    const log = operatorAuditLog({ storageDir: t.config.storageDir, temporal: undefined }).verify();
    assert.ok(log.ok, JSON.stringify(log));
  });
});
