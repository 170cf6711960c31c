// Retention with the S3 artifact store, in the time-skipping environment: the real workflow bundle,
// Docker, policy, signer and the API (app.inject) on the same test server, the artifacts in a real
// S3 server (versitygw) started here. Two scenarios are scored into the bucket; one loses its
// retention workflow; 30 days pass: the other is deleted from the bucket by its own timer, leaving
// the tombstone and the audit log there, and the sweep finds the orphan by listing the bucket and
// deletes it the same way. Nothing is read from or left on the host's disk.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { buildApp } from '../../api/app.ts';
import { verifyChainText } from '../../lib/audit-chain.ts';
import { sha256Hex } from '../../lib/canonical-json.ts';
import { loadPlans } from '../../infra/plans.ts';
import { resultsDir, resultsKey, RESULTS } from '../../infra/results.ts';
import { tombstoneKey } from '../../infra/retention-storage.ts';
import { mintToken } from '../../infra/tokens.ts';
import { completeUpdate, statusQuery, type ScenarioState } from '../../contract/scenario.ts';
import { retentionQuery, retentionWorkflowId, type Tombstone } from '../../contract/retention.ts';
import { MAIN_TASK_QUEUE, SCENARIO_WORKFLOW_TYPE } from '../../contract/queues.ts';
import { scenarioInput } from '../support/scenario-input.ts';
import { REPO, waitFor, type TestConfig } from '../support/harness.ts';
import { buildTestTemplates } from '../support/templates.ts';
import { startTimeSkipping, type TimeSkipping } from '../support/time-skipping.ts';
import { startS3Server, type S3Server } from '../support/s3-server.ts';

const DAY_MS = 24 * 3600 * 1000;
const run = promisify(execFile);

describe('retention on the S3 artifact store (time-skipping, versitygw)', () => {
  let server: S3Server;
  let env: TestWorkflowEnvironment;
  let t: TestConfig;
  let ts: TimeSkipping;
  let templatesDir: string;
  let app: FastifyInstance;
  let operator: string;
  let scratch: string;
  let plain: ScenarioState, orphan: ScenarioState;

  before(async () => {
    server = await startS3Server('arbiter-retention');
    ts = await startTimeSkipping(server.env);
    ({ env, t } = ts);
    templatesDir = await buildTestTemplates([
      { id: 'retained-s3', scorer: readFileSync(join(REPO, 'templates', 'hello', '1', 'scorer', 'score.sh'), 'utf8') },
    ]);
    await ts.startWorkers(templatesDir);
    // Not env.client: the sweep awaits the retention it restarts, and a time-skipping client
    // awaiting a result would let the server skip to any timer.
    app = await buildApp({ config: t.config, temporal: new Client({ connection: env.connection, namespace: env.namespace ?? 'default' }), plans: loadPlans(), templatesDir, checks: {}, retentionClock: () => env.currentTimeMs() });
    operator = (await mintToken('operator', { sub: 'olga', role: 'operator' }, t.config.secrets.OPERATOR_HMAC_SECRET!, { ttlSeconds: 3600 })).token;
    scratch = mkdtempSync(join(tmpdir(), 'arbiter-retention-s3-'));
    [plain, orphan] = await Promise.all([scored(), scored()]);
  });

  after(async () => {
    await app?.close();
    await ts?.stop();
    await server?.stop();
    if (templatesDir) rmSync(templatesDir, { recursive: true, force: true });
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  async function scored(): Promise<ScenarioState> {
    const input = scenarioInput({ plan: 'pro', template: { id: 'retained-s3', version: '1' } });
    const handle = await env.client.workflow.start(SCENARIO_WORKFLOW_TYPE, { taskQueue: MAIN_TASK_QUEUE, workflowId: input.scenarioId, args: [input] });
    await waitFor('the scenario to be running', async () => ((await handle.query(statusQuery)).status === 'running' ? true : undefined));
    await handle.executeUpdate(completeUpdate, { args: [{ outcome: 'success', submission: { answer: 'hello' }, actor: 'scenario-host' }] });
    // Polled, not awaited with result(): that would let the test server skip time.
    return waitFor('the scenario to be scored', async () => {
      const s = await handle.query(statusQuery);
      if (s.status !== 'scored' && s.status !== 'scoring' && s.status !== 'running') throw new Error(`scenario ${s.status}: ${s.reason ?? ''}`);
      return s.status === 'scored' && (await handle.describe()).status.name === 'COMPLETED' ? s : undefined;
    });
  }

  const call = async (method: 'GET' | 'POST', url: string, token?: string, body?: unknown) => {
    const r = await app.inject({
      method,
      url,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    });
    return { status: r.statusCode, json: r.body ? (JSON.parse(r.body) as Record<string, unknown>) : undefined };
  };
  const retentionOf = (s: ScenarioState) => env.client.workflow.getHandle(retentionWorkflowId(s.scenarioId)).query(retentionQuery);

  /** Deleted from the bucket with a tombstone there; only the audit log is left, recording the deletion. */
  async function assertExpiredInBucket(s: ScenarioState, envelopeSha256: string): Promise<Tombstone> {
    assert.deepEqual(await server.store.list(resultsKey(s.scenarioId)), [resultsKey(s.scenarioId, RESULTS.audit)], 'only the audit log is left of the results');
    const tomb = JSON.parse((await server.store.get(tombstoneKey(s.scenarioId)))!.toString('utf8')) as Tombstone;
    assert.equal(tomb.endedAs, 'scored');
    assert.equal(tomb.verdict?.envelopeSha256, envelopeSha256, 'the tombstone keeps the verdict digest');
    assert.deepEqual(tomb.removed, [RESULTS.evidenceDir, RESULTS.score, RESULTS.envelope, RESULTS.verdict].sort());
    const audit = (await server.store.get(resultsKey(s.scenarioId, RESULTS.audit)))!.toString('utf8');
    const chain = verifyChainText(audit);
    assert.ok(chain.ok, JSON.stringify(chain));
    assert.equal(chain.head, tomb.auditHead, 'the tombstone names the audit head that records the deletion');
    assert.match(audit, /retention\.deleted/);
    assert.equal(existsSync(resultsDir(t.config.storageDir, s.scenarioId)), false, 'nothing of it on the host\'s disk');
    const view = await call('GET', `/api/scenarios/${s.scenarioId}`, operator);
    assert.equal(view.json!.status, 'expired');
    assert.equal(view.json!.updatedAt, tomb.deletedAt);
    assert.equal((await call('GET', `/api/scenarios/${s.scenarioId}/verdict`, operator)).status, 404);
    return tomb;
  }

  it('scored scenarios are in the bucket, not on the host, with 30 days of retention', async () => {
    for (const s of [plain, orphan]) {
      assert.ok(await server.store.exists(resultsKey(s.scenarioId, RESULTS.envelope)), 'the verdict is in the bucket');
      assert.ok(await server.store.exists(resultsKey(s.scenarioId, `${RESULTS.evidenceDir}/manifest.json`)), 'the evidence is in the bucket');
      assert.equal(existsSync(resultsDir(t.config.storageDir, s.scenarioId)), false, 'no working copy left on the host');
      const r = await retentionOf(s);
      assert.equal(r.status, 'retained');
      assert.equal(Date.parse(r.deleteAfter) - Date.parse(s.updatedAt), 30 * DAY_MS);
    }
  });

  it('30 days on, the retention timer deletes from the bucket; the sweep finds the orphan by listing the bucket and deletes it too', async () => {
    const digest = async (s: ScenarioState) => sha256Hex((await server.store.get(resultsKey(s.scenarioId, RESULTS.envelope)))!);
    const [plainDigest, orphanDigest] = [await digest(plain), await digest(orphan)];
    // The orphan loses its retention workflow first, as when an operator terminates it by hand.
    await env.client.workflow.getHandle(retentionWorkflowId(orphan.scenarioId)).terminate('lost retention (test)');
    await env.sleep(30 * DAY_MS);
    await waitFor('the scenario to expire', async () => ((await retentionOf(plain)).status === 'expired' ? true : undefined));
    await assertExpiredInBucket(plain, plainDigest);
    assert.ok(await server.store.exists(resultsKey(orphan.scenarioId, RESULTS.envelope)), 'the orphan is still there');

    const sweep = await call('POST', '/api/retention/sweep', operator, { dryRun: false });
    assert.equal(sweep.status, 200, JSON.stringify(sweep.json));
    assert.deepEqual(sweep.json, { dryRun: false, deleted: [orphan.scenarioId], held: [], kept: [] });
    await assertExpiredInBucket(orphan, orphanDigest);
  });

  it('arbiter results download says what retention left: the audit log only, exit 1', async () => {
    const dir = join(scratch, 'after-expiry');
    await assert.rejects(
      run(process.execPath, [join(REPO, 'bin', 'arbiter.js'), 'results', 'download', plain.scenarioId, dir], { env: { ...process.env, ARBITER_ENV_FILE: '/nonexistent', ARBITER_STORAGE_DIR: join(scratch, 'cli'), ...server.env } }),
      (err: { code: number; stdout: string }) => {
        assert.equal(err.code, 1);
        assert.match(err.stdout, /deleted by retention at .*only its audit log is left/);
        return true;
      },
    );
    assert.deepEqual(readdirSync(dir), [RESULTS.audit]);
  });
});
