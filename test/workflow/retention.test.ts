// Retention in the time-skipping environment, with the real workflow bundle, Docker, policy,
// signer, storage and the API (app.inject) on the same test server: 30 days pass in seconds.
// One story, in order: three scenarios are scored; one is held; 30 days pass; the unheld one is
// deleted and reads "expired"; the held one survives; a dry-run sweep lists what would go and
// changes nothing; the real sweep deletes it; releasing the hold deletes the held one.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { buildApp } from '../../api/app.ts';
import { verifyChainText, type AuditEntry } from '../../lib/audit-chain.ts';
import { sha256Hex } from '../../lib/canonical-json.ts';
import { operatorAuditLog, operatorAuditPath } from '../../infra/operator-audit.ts';
import { loadPlans } from '../../infra/plans.ts';
import { resultsDir, RESULTS, scenarioDir, verifyResults } from '../../infra/results.ts';
import { publicJwks } from '../../infra/keys.ts';
import { tombstonePath } from '../../infra/retention-storage.ts';
import { mintToken } from '../../infra/tokens.ts';
import { completeUpdate, scenarioIdFromJti, statusQuery, type ScenarioInput, type ScenarioState } from '../../contract/scenario.ts';
import { holdSignal, releaseSignal, retentionQuery, retentionWorkflowId, type Tombstone } from '../../contract/retention.ts';
import { MAIN_TASK_QUEUE, SCENARIO_WORKFLOW_TYPE } from '../../contract/queues.ts';
import { scenarioInput } from '../support/scenario-input.ts';
import { REPO, waitFor, type TestConfig } from '../support/harness.ts';
import { injector } from '../support/inject.ts';
import { buildTestTemplates } from '../support/templates.ts';
import { startTimeSkipping, type TimeSkipping } from '../support/time-skipping.ts';

const DAY_MS = 24 * 3600 * 1000;
const run = promisify(execFile);

describe('retention (time-skipping)', () => {
  let env: TestWorkflowEnvironment;
  let t: TestConfig;
  let templatesDir: string;
  let ts: TimeSkipping;
  let app: FastifyInstance;
  let operator: string;
  let subjectEt: string;
  /** expires on its own; held; loses its retention workflow (the sweep's case) */
  let plain: ScenarioState, held: ScenarioState, orphan: ScenarioState;

  before(async () => {
    ts = await startTimeSkipping();
    ({ env, t } = ts);
    templatesDir = await buildTestTemplates([
      { id: 'retained', scorer: readFileSync(join(import.meta.dirname, '..', '..', 'templates', 'hello', '1', 'scorer', 'score.sh'), 'utf8') },
    ]);
    await ts.startWorkers(templatesDir);
    // The sweep judges deadlines by the test server's clock, which runs 30 days ahead of the wall's.
    // Not env.client: the sweep awaits the result of a retention it restarts, and a time-skipping
    // client awaiting a result lets the server skip to the next timer anywhere: with retention
    // workflows started by the scenario (not as its children), that is the test server's default
    // ten-year execution timeout of the held one. Here time moves only where the test says so.
    app = await buildApp({ config: t.config, temporal: new Client({ connection: env.connection, namespace: env.namespace ?? 'default' }), plans: loadPlans(), templatesDir, checks: {}, retentionClock: () => env.currentTimeMs() });
    operator = (await mintToken('operator', { sub: 'olga', role: 'operator' }, t.config.secrets.OPERATOR_HMAC_SECRET!, { ttlSeconds: 3600 })).token;
    subjectEt = (await mintToken('et', { sub: 'alice', tenant: 'acme', plan: 'pro' }, t.config.secrets.ET_HMAC_SECRET!, { ttlSeconds: 3600 })).token;

    // All three are scored before any time passes, so their 30 days run from the same moment.
    [plain, held, orphan] = await Promise.all([scored(), scored(), scored()]);
  });

  after(async () => {
    await app?.close();
    await ts?.stop();
  });

  async function scored(): Promise<ScenarioState> {
    const input = scenarioInput({ plan: 'pro', template: { id: 'retained', version: '1' } });
    const handle = await env.client.workflow.start(SCENARIO_WORKFLOW_TYPE, { taskQueue: MAIN_TASK_QUEUE, workflowId: input.scenarioId, args: [input] });
    await waitFor('the scenario to be running', async () => ((await handle.query(statusQuery)).status === 'running' ? true : undefined));
    await handle.executeUpdate(completeUpdate, { args: [{ outcome: 'success', submission: { answer: 'hello' }, actor: 'scenario-host' }] });
    // Polled, not awaited with result(): awaiting a result lets the test server skip time, and
    // with retention timers pending it could jump 30 days while another scenario is mid-activity.
    return waitFor('the scenario to be scored', async () => {
      const s = await handle.query(statusQuery);
      if (s.status !== 'scored' && s.status !== 'scoring' && s.status !== 'running') throw new Error(`scenario ${s.status}: ${s.reason ?? ''}`);
      return s.status === 'scored' && (await handle.describe()).status.name === 'COMPLETED' ? s : undefined;
    });
  }

  const call = injector(() => app);
  const retentionOf = (s: ScenarioState) => env.client.workflow.getHandle(retentionWorkflowId(s.scenarioId)).query(retentionQuery);
  const operatorEntries = () => readFileSync(operatorAuditPath(t.config.storageDir), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEntry);
  const scenarioAudit = (s: ScenarioState) => readFileSync(join(resultsDir(t.config.storageDir, s.scenarioId), RESULTS.audit), 'utf8');
  /** Every path and mtime under a scenario's folder: equal before and after means nothing changed. */
  const snapshot = (s: ScenarioState) => {
    const dir = scenarioDir(t.config.storageDir, s.scenarioId);
    return readdirSync(dir, { recursive: true }).map(String).sort().map((p) => `${p}@${statSync(join(dir, p)).mtimeMs}`);
  };

  it('a scored scenario closes as "scored" while its retention workflow counts 30 days from the verdict', async () => {
    const r = await retentionOf(plain);
    assert.equal(r.status, 'retained');
    assert.equal(Date.parse(r.deleteAfter) - Date.parse(plain.updatedAt), 30 * DAY_MS);
    const view = await call('GET', `/api/scenarios/${plain.scenarioId}`, subjectEt);
    assert.equal(view.status, 200);
    assert.equal(view.json!.status, 'scored');
    assert.equal((view.json!.retention as { deleteAfter: string }).deleteAfter, r.deleteAfter);
  });

  it('hold answers 403 to a non-operator, 404 for an unknown scenario, 204 to an operator, and is audited in both logs', async () => {
    assert.equal((await call('POST', `/api/scenarios/${held.scenarioId}/hold`, subjectEt)).status, 403);
    assert.equal((await call('DELETE', `/api/scenarios/${held.scenarioId}/hold`, subjectEt)).status, 403);
    assert.equal((await call('POST', `/api/scenarios/scn-${randomUUID()}/hold`, operator)).status, 404);
    assert.equal((await call('POST', `/api/scenarios/${held.scenarioId}/hold`, operator, { reason: 'investigation 42' })).status, 204);

    const r = await waitFor('the hold to reach the workflow', async () => ((await retentionOf(held)).held ? retentionOf(held) : undefined));
    assert.equal(r.status, 'held');
    assert.deepEqual({ actor: r.hold?.actor, reason: r.hold?.reason }, { actor: 'operator:olga', reason: 'investigation 42' });
    await waitFor('the hold in the scenario audit log', async () => (/retention\.hold/.test(scenarioAudit(held)) ? true : undefined));
    // The subject sees that the artifacts are held, not who holds them or why; an operator sees both.
    const bySubject = await call('GET', `/api/scenarios/${held.scenarioId}`, subjectEt);
    assert.equal(bySubject.status, 200);
    assert.equal((bySubject.json!.retention as { held: boolean }).held, true);
    assert.equal((bySubject.json!.retention as { hold?: unknown }).hold, undefined, JSON.stringify(bySubject.json));
    assert.doesNotMatch(JSON.stringify(bySubject.json), /investigation 42|olga/);
    const byOperator = await call('GET', `/api/scenarios/${held.scenarioId}`, operator);
    assert.deepEqual((byOperator.json!.retention as { hold?: { actor: string; reason: string } }).hold?.reason, 'investigation 42');
    const entry = operatorEntries().find((e) => e.event === 'scenario.hold' && e.data?.scenarioId === held.scenarioId);
    assert.equal(entry?.actor, 'operator:olga');
    // The hold continues the chain after the head the verdict recorded: the verdict still verifies.
    const check = await verifyResults(resultsDir(t.config.storageDir, held.scenarioId), await publicJwks(t.config.keysDir));
    assert.ok(check.ok, JSON.stringify(check));
  });

  it('a bare hold and release signal, as sent from the Temporal UI, work and are audited as such', async () => {
    const handle = env.client.workflow.getHandle(retentionWorkflowId(plain.scenarioId));
    await handle.signal(holdSignal);
    await waitFor('held', async () => ((await retentionOf(plain)).held ? true : undefined));
    await handle.signal(releaseSignal);
    await waitFor('released and audited', async () => (/retention\.release/.test(scenarioAudit(plain)) ? true : undefined));
    assert.equal((await retentionOf(plain)).held, false);
    const mine = operatorEntries().filter((e) => e.data?.scenarioId === plain.scenarioId).map((e) => `${e.event} by ${e.actor}`);
    assert.deepEqual(mine, ['scenario.hold by temporal-ui', 'scenario.release by temporal-ui']);
  });

  it('before the retention is over, a sweep deletes nothing: the held one is listed as held, the others kept', async () => {
    const r = await call('POST', '/api/retention/sweep', operator, { dryRun: false });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(r.json, { dryRun: false, deleted: [], held: [held.scenarioId], kept: [plain.scenarioId, orphan.scenarioId].sort() });
    assert.equal((await call('POST', '/api/retention/sweep', subjectEt, { dryRun: true })).status, 403);
  });

  it('when 30 days pass, the unheld scenario is deleted with a tombstone and audited, reads "expired", and the held one survives', async () => {
    // The orphan loses its retention workflow first, as when an operator terminates it by hand.
    await env.client.workflow.getHandle(retentionWorkflowId(orphan.scenarioId)).terminate('lost retention (test)');
    const verdictBytes = readFileSync(join(resultsDir(t.config.storageDir, plain.scenarioId), RESULTS.envelope));

    // Exactly 30 days from now: past every deadline (all were scored moments ago). The test server
    // skips to each timer, then lets the rest of the span pass in real time: keep that rest short.
    await env.sleep(30 * DAY_MS);

    const r = await waitFor('the unheld scenario to expire', async () => {
      const s = await retentionOf(plain);
      return s.status === 'expired' ? s : undefined;
    });
    const results = resultsDir(t.config.storageDir, plain.scenarioId);
    assert.deepEqual(readdirSync(results), [RESULTS.audit], 'only the audit log is left of the results');
    const tomb = JSON.parse(readFileSync(tombstonePath(t.config.storageDir, plain.scenarioId), 'utf8')) as Tombstone;
    assert.equal(tomb.verdict?.envelopeSha256, sha256Hex(verdictBytes), 'the tombstone keeps the verdict digest');
    assert.equal(tomb.deletedAt, r.deletedAt);
    assert.ok(tomb.removed.includes(RESULTS.envelope) && tomb.removed.includes(RESULTS.evidenceDir));

    const audit = verifyChainText(scenarioAudit(plain));
    assert.ok(audit.ok, JSON.stringify(audit));
    assert.equal(audit.head, tomb.auditHead, 'the tombstone names the audit head that records the deletion');
    assert.match(scenarioAudit(plain), /retention\.deleted/);
    const deletion = operatorEntries().find((e) => e.event === 'scenario.deleted' && e.data?.scenarioId === plain.scenarioId);
    assert.equal(deletion?.actor, 'retention');
    assert.equal(deletion?.data?.verdictEnvelopeSha256, tomb.verdict?.envelopeSha256);

    const view = await call('GET', `/api/scenarios/${plain.scenarioId}`, subjectEt);
    assert.equal(view.json!.status, 'expired');
    assert.equal((await call('GET', `/api/scenarios/${plain.scenarioId}/verdict`, subjectEt)).status, 404);
    assert.equal((await call('POST', `/api/scenarios/${plain.scenarioId}/hold`, operator)).status, 409, 'nothing left to hold');

    assert.equal((await retentionOf(held)).status, 'held');
    assert.ok(existsSync(join(resultsDir(t.config.storageDir, held.scenarioId), RESULTS.envelope)), 'the held verdict is still there');
    assert.equal((await call('GET', `/api/scenarios/${held.scenarioId}`, subjectEt)).json!.status, 'scored');
  });

  it('a dry-run sweep lists the overdue orphan and the held scenario and changes nothing; the real sweep deletes the orphan', async () => {
    const before = { orphan: snapshot(orphan), held: snapshot(held), log: readFileSync(operatorAuditPath(t.config.storageDir)) };
    const dry = await call('POST', '/api/retention/sweep', operator, { dryRun: true });
    assert.equal(dry.status, 200, JSON.stringify(dry.json));
    assert.deepEqual(dry.json, { dryRun: true, deleted: [orphan.scenarioId], held: [held.scenarioId], kept: [] });
    assert.deepEqual(snapshot(orphan), before.orphan, 'the orphan is untouched');
    assert.deepEqual(snapshot(held), before.held, 'the held scenario is untouched');
    assert.ok(readFileSync(operatorAuditPath(t.config.storageDir)).equals(before.log), 'not even the audit log changed');

    // The same through the CLI, over loopback.
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const cli = await run(process.execPath, [join(REPO, 'bin', 'arbiter.js'), '--api', base, 'retention', 'sweep', '--dry-run', '--token', operator], { env: { ...process.env, ARBITER_ENV_FILE: '/nonexistent' } });
    assert.match(cli.stdout, /dry run, nothing changed\): 1 would delete, 1 held, 0 kept/);
    assert.match(cli.stdout, new RegExp(`would delete +${orphan.scenarioId}`));
    assert.match(cli.stdout, new RegExp(`held +${held.scenarioId}`));
    assert.deepEqual(snapshot(orphan), before.orphan, 'the CLI dry run left the orphan untouched');

    const real = await call('POST', '/api/retention/sweep', operator, { dryRun: false });
    assert.deepEqual(real.json, { dryRun: false, deleted: [orphan.scenarioId], held: [held.scenarioId], kept: [] });
    assert.ok(existsSync(tombstonePath(t.config.storageDir, orphan.scenarioId)));
    assert.ok(!existsSync(join(resultsDir(t.config.storageDir, orphan.scenarioId), RESULTS.envelope)));
    assert.equal((await call('GET', `/api/scenarios/${orphan.scenarioId}`, operator)).json!.status, 'expired');
    assert.ok(operatorEntries().some((e) => e.event === 'retention.sweep' && e.actor === 'operator:olga'));
  });

  it('releasing the hold after the retention is over deletes the held scenario at once', async () => {
    assert.equal((await call('DELETE', `/api/scenarios/${held.scenarioId}/hold`, operator)).status, 204);
    const r = await waitFor('the released scenario to expire', async () => {
      const s = await retentionOf(held);
      return s.status === 'expired' ? (s) : undefined;
    });
    assert.ok(r.deletedAt);
    assert.ok(existsSync(tombstonePath(t.config.storageDir, held.scenarioId)));
    assert.equal((await call('GET', `/api/scenarios/${held.scenarioId}`, operator)).json!.status, 'expired');
    const events = operatorEntries().filter((e) => e.data?.scenarioId === held.scenarioId).map((e) => e.event);
    assert.deepEqual(events, ['scenario.hold', 'scenario.release', 'scenario.deleted']);
    const log = operatorAuditLog({ storageDir: t.config.storageDir, temporal: undefined }).verify();
    assert.ok(log.ok, JSON.stringify(log));
  });

  it('an operator\'s cancel and force-complete through the API are recorded in the operator log', async () => {
    const start = async () => {
      const input: ScenarioInput = {
        scenarioId: scenarioIdFromJti(randomUUID()), correlationId: randomUUID(), subject: 'bob', tenant: 'acme', plan: 'pro',
        template: { id: 'retained', version: '1' }, track: 'intro', retentionDays: 30, createdAt: new Date().toISOString(),
      };
      const handle = await env.client.workflow.start(SCENARIO_WORKFLOW_TYPE, { taskQueue: MAIN_TASK_QUEUE, workflowId: input.scenarioId, args: [input] });
      await waitFor('running', async () => ((await handle.query(statusQuery)).status === 'running' ? true : undefined));
      return handle;
    };
    const [toCancel, toComplete] = await Promise.all([start(), start()]);

    assert.equal((await call('POST', `/api/scenarios/${toCancel.workflowId}/cancel`, operator)).status, 202);
    assert.equal((await call('POST', `/api/scenarios/${toComplete.workflowId}/complete`, operator, { outcome: 'gave_up', submission: {} })).status, 202);
    for (const h of [toCancel, toComplete]) await waitFor('closed', async () => ((await h.describe()).status.name === 'RUNNING' ? undefined : true));

    const mine = operatorEntries().filter((e) => e.data?.scenarioId === toCancel.workflowId || e.data?.scenarioId === toComplete.workflowId);
    assert.deepEqual(mine.map((e) => [e.event, e.actor, e.data?.scenarioId]), [
      ['scenario.cancel', 'operator:olga', toCancel.workflowId],
      ['scenario.force_complete', 'operator:olga', toComplete.workflowId],
    ]);
    assert.ok(operatorAuditLog({ storageDir: t.config.storageDir, temporal: undefined }).verify().ok);
  });
});
