// The operator audit log's and the billing log's heads anchored outside them, on the real Temporal
// dev server: writers in other processes, in this one, the API and the CLI keep the anchor in step;
// truncating the log together with its .head, or rewriting its last entry with a consistent chain
// and .head, is caught by `arbiter audit verify` (and `arbiter billing verify`) naming the anchor,
// and the next append refuses; an entry whose anchor update was lost (a crash between the two) is
// reported as not anchored yet and anchored by the next append; the anchor never moves back; its
// history stays bounded by continue-as-new.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { buildApp } from '../../api/app.ts';
import { appendEvent, type AuditEntry } from '../../lib/audit-chain.ts';
import { canonicalJson } from '../../lib/canonical-json.ts';
import { linksFrom } from '../../lib/audit-anchor.ts';
import { ChainedLogFile } from '../../infra/chained-log.ts';
import { LogAnchor } from '../../infra/log-anchor.ts';
import { billingLog, billingLogPath } from '../../infra/billing-log.ts';
import { operatorAuditLog, operatorAuditPath, recordOperatorAction } from '../../infra/operator-audit.ts';
import { loadPlans } from '../../infra/plans.ts';
import { DEFAULT_TEMPLATES_DIR } from '../../infra/template.ts';
import { mintToken } from '../../infra/tokens.ts';
import { bundleWorkflows } from '../../workers/workers.ts';
import { advanceAnchorUpdate, auditAnchorWorkflowId, type AnchorState } from '../../contract/audit-anchor.ts';
import { MAIN_TASK_QUEUE, MEMO, SEARCH_ATTRIBUTES } from '../../contract/queues.ts';
import { REPO, testConfig, tools, type TestConfig } from '../support/harness.ts';

const run = promisify(execFile);
/** Low, so a few dozen appends make the anchor continue as new (Temporal's default is 4 Ki events). */
const SUGGEST_CONTINUE_AS_NEW_AT = 40;

const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean);
const entries = (file: string) => lines(file).map((l) => JSON.parse(l) as AuditEntry);

describe('audit anchor (Temporal dev server)', () => {
  let env: TestWorkflowEnvironment;
  let client: Client;
  let t: TestConfig;
  let app: FastifyInstance;
  let stopWorker: () => void = () => undefined;
  let workerDone: Promise<void> = Promise.resolve();
  let storage: string;
  let opLog: string;
  let firstRunId: string;

  const cli = (...args: string[]) =>
    run(process.execPath, [join(REPO, 'bin', 'arbiter.js'), ...args], {
      env: { ...process.env, ARBITER_ENV_FILE: '/nonexistent', ARBITER_MODE: 'production', ARBITER_STORAGE_DIR: storage, ARBITER_KEYS_DIR: join(t.dir, 'cli-keys'), TEMPORAL_ADDRESS: env.address },
    }).then((r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }), (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }));

  /** The anchor as `arbiter audit verify` reads it: the memo of the anchor's current run. */
  async function anchorOf(log: 'operator' | 'billing'): Promise<AnchorState & { runId: string }> {
    const d = await client.workflow.getHandle(auditAnchorWorkflowId(log)).describe();
    return { ...(d.memo?.[MEMO.auditAnchor] as AnchorState), runId: d.runId };
  }

  /** Runs `body` on the log with its lines (and .head) as `edit` makes them, then puts the original back. */
  async function tampered(file: string, edit: (ls: string[]) => string[], body: () => Promise<void>): Promise<void> {
    const [log, head] = [readFileSync(file), readFileSync(`${file}.head`)];
    const ls = edit(lines(file));
    writeFileSync(file, ls.map((l) => `${l}\n`).join(''));
    writeFileSync(`${file}.head`, (JSON.parse(ls.at(-1)!) as AuditEntry).hash);
    try {
      await body();
    } finally {
      writeFileSync(file, log);
      writeFileSync(`${file}.head`, head);
    }
  }

  before(async () => {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: tools().TEMPORAL_BIN },
        ip: '127.0.0.1',
        extraArgs: [
          ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
          '--dynamic-config-value', `limit.historyCount.suggestContinueAsNew=${SUGGEST_CONTINUE_AS_NEW_AT}`,
        ],
      },
    });
    client = env.client;
    t = await testConfig();
    storage = t.config.storageDir;
    opLog = operatorAuditPath(storage);
    // The main worker's part here: it runs the anchor workflows (and the tenant entity billing records to).
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue: MAIN_TASK_QUEUE, workflowBundle: await bundleWorkflows(new DefaultLogger('WARN')) });
    const stop = new Promise<void>((resolve) => { stopWorker = resolve; });
    workerDone = worker.runUntil(stop);
    app = await buildApp({ config: t.config, temporal: client, plans: loadPlans(), templatesDir: DEFAULT_TEMPLATES_DIR, checks: {} });
  });

  after(async () => {
    await app?.close();
    stopWorker();
    await workerDone;
    await env?.teardown();
    t?.cleanup();
  });

  it('when two processes, two log instances in this one, the API and the CLI append at once, the anchor holds exactly the log\'s head', async () => {
    const operator = (await mintToken('operator', { sub: 'olga', role: 'operator' }, t.config.secrets.OPERATOR_HMAC_SECRET!, { ttlSeconds: 600 })).token;
    const children = ['a', 'b'].map((tag) =>
      run(process.execPath, ['--import', 'tsx', join(REPO, 'test', 'support', 'append-operator-audit.ts'), storage, '15', tag, env.address], { cwd: REPO }));
    const shared = operatorAuditLog({ storageDir: storage, temporal: client });
    const second = new ChainedLogFile(opLog, new LogAnchor(client, 'operator'));
    const local = Array.from({ length: 10 }, (_, i) => [
      recordOperatorAction({ storageDir: storage, temporal: client }, { actor: 'operator:local', action: 'scenario.release', scenarioId: `scn-local-${i}` }),
      second.append({ time: new Date().toISOString(), actor: 'operator:second', event: 'scenario.release', data: { i } }),
    ]).flat();
    const sweeps = Array.from({ length: 3 }, () => app.inject({ method: 'POST', url: '/api/retention/sweep', headers: { authorization: `Bearer ${operator}` }, payload: { dryRun: false } }));
    const keys = cli('--json', 'keys', 'generate').then(async (generated) => ({ generated, rotated: await cli('--json', 'keys', 'rotate') }));
    const [, , swept, { generated, rotated }] = await Promise.all([Promise.all(children), Promise.all(local), Promise.all(sweeps), keys]);
    assert.deepEqual(swept.map((r) => r.statusCode), [200, 200, 200]);
    assert.equal(generated.code, 0, generated.stderr);
    assert.equal(rotated.code, 0, rotated.stderr);

    const log = entries(opLog);
    const byActor = new Map<string, number>();
    for (const e of log) byActor.set(e.actor, (byActor.get(e.actor) ?? 0) + 1);
    assert.equal(byActor.get('operator:a'), 15);
    assert.equal(byActor.get('operator:b'), 15);
    assert.equal(byActor.get('operator:local'), 10);
    assert.equal(byActor.get('operator:second'), 10);
    assert.equal(byActor.get('operator:olga'), 3);
    assert.deepEqual(log.filter((e) => e.event.startsWith('keys.')).map((e) => [e.event, e.data?.kid]), [
      ['keys.generated', (JSON.parse(generated.stdout) as { kid: string }).kid],
      ['keys.rotated', (JSON.parse(rotated.stdout) as { kid: string }).kid],
    ]);
    assert.equal(log.length, 55);
    const anchor = await anchorOf('operator');
    assert.deepEqual({ length: anchor.length, head: anchor.head }, { length: 55, head: log.at(-1)!.hash });
    assert.ok(shared.verify().ok);

    const verified = await cli('audit', 'verify', opLog);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, new RegExp(`audit chain intact: 55 entries, head ${log.at(-1)!.hash}\\n  anchored: 55 entries, head ${log.at(-1)!.hash} in audit-anchor-operator \\(namespace default\\)`));
    assert.doesNotMatch(verified.stdout, /warning/);
  });

  it('when the log and its .head are truncated together, `arbiter audit verify` fails naming the anchor, and no writer appends after them', async () => {
    const before = entries(opLog);
    await tampered(opLog, (ls) => ls.slice(0, 40), async () => {
      // The .head beside the log agrees with it: the file alone looks intact.
      const local = await cli('audit', 'verify', '--no-anchor', opLog);
      assert.equal(local.code, 0, local.stdout);
      const r = await cli('audit', 'verify', opLog);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`audit chain BROKEN at entry 40: the log has 40 entries but ${before.length} are anchored \\(head ${before.at(-1)!.hash.slice(0, 12)}…\\): truncated, says the anchor audit-anchor-operator \\(namespace default\\)`));
      await assert.rejects(recordOperatorAction({ storageDir: storage, temporal: client }, { actor: 'operator:olga', action: 'scenario.hold', scenarioId: 'scn-after-truncation' }),
        /refusing to append to .*operator\.jsonl: the log has 40 entries but \d+ are anchored .*audit-anchor-operator/);
      assert.equal(lines(opLog).length, 40);
    });
  });

  it('when the last entry is rewritten with a consistent chain and .head, `arbiter audit verify` fails at it naming the anchor', async () => {
    const before = entries(opLog);
    const forged = appendEvent(before.slice(-2, -1), { time: before.at(-1)!.time, actor: 'operator:mallory', event: 'scenario.release' });
    await tampered(opLog, (ls) => [...ls.slice(0, -1), canonicalJson(forged)], async () => {
      const local = await cli('audit', 'verify', '--no-anchor', opLog);
      assert.equal(local.code, 0, local.stdout);
      const r = await cli('--json', 'audit', 'verify', opLog);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const out = JSON.parse(r.stdout) as { ok: boolean; brokenAt: number; reason: string; anchor: { workflowId: string } };
      assert.equal(out.brokenAt, before.length - 1);
      assert.equal(out.anchor.workflowId, 'audit-anchor-operator');
      assert.match(out.reason, new RegExp(`entry ${before.length - 1} is ${forged.hash.slice(0, 12)}… but the anchored head there is ${before.at(-1)!.hash.slice(0, 12)}…: rewritten, says the anchor audit-anchor-operator`));
    });
    // Put back, the log verifies again.
    assert.equal((await cli('audit', 'verify', opLog)).code, 0);
  });

  it('when an entry is written but its anchor update is lost (a crash between the two), it is reported as not anchored yet, and the next append anchors it', async () => {
    // A writer without its anchor: what a crash right after the write leaves.
    await new ChainedLogFile(opLog).append({ time: new Date().toISOString(), actor: 'operator:crashed', event: 'scenario.hold' });
    const n = lines(opLog).length;
    assert.equal((await anchorOf('operator')).length, n - 1);
    const [lax, strict] = await Promise.all([cli('audit', 'verify', opLog), cli('audit', 'verify', '--strict', opLog)]);
    assert.equal(lax.code, 0, lax.stdout + lax.stderr);
    assert.match(lax.stdout, new RegExp(`audit chain intact: ${n} entries.*\\n  anchored: ${n - 1} entries.*\\n  warning: 1 entry after the anchored head not anchored yet`));
    assert.equal(strict.code, 1, strict.stdout);
    assert.match(strict.stdout, /not anchored yet .*\(--strict\)/);

    await recordOperatorAction({ storageDir: storage, temporal: client }, { actor: 'operator:olga', action: 'scenario.hold', scenarioId: 'scn-next' });
    const log = entries(opLog);
    assert.equal(log.length, n + 1);
    const anchor = await anchorOf('operator');
    assert.deepEqual({ length: anchor.length, head: anchor.head }, { length: n + 1, head: log.at(-1)!.hash });
  });

  it('when an update does not extend the anchored head (moving it back, or onto another chain), the anchor refuses it and stays', async () => {
    const log = entries(opLog);
    const was = await anchorOf('operator');
    const handle = client.workflow.getHandle(auditAnchorWorkflowId('operator'));
    const back = handle.executeUpdate(advanceAnchorUpdate, { args: [linksFrom(log, 10).slice(0, 5)] });
    await assert.rejects(back, (err: unknown) => err instanceof WorkflowUpdateFailedError && /refuses: the links end at entry 14, before the anchored head/.test(err.cause?.message ?? ''));
    const forged = appendEvent(log.slice(-2, -1), { time: new Date().toISOString(), actor: 'operator:mallory', event: 'scenario.release' });
    const fork = handle.executeUpdate(advanceAnchorUpdate, { args: [[...linksFrom(log.slice(0, -1), log.length - 2), { seq: forged.seq, prev: forged.prev, hash: forged.hash }]] });
    await assert.rejects(fork, (err: unknown) => err instanceof WorkflowUpdateFailedError && /refuses: entry \d+ is .* but the anchor holds/.test(err.cause?.message ?? ''));
    const now = await anchorOf('operator');
    assert.deepEqual({ length: now.length, head: now.head }, { length: was.length, head: was.head });
  });

  it('the anchor\'s history stays bounded: it continued as new, and the current run starts from the anchored head', async () => {
    const handle = client.workflow.getHandle(auditAnchorWorkflowId('operator'));
    const runs: string[] = [];
    for await (const w of client.workflow.list({ query: `WorkflowId = '${auditAnchorWorkflowId('operator')}'` })) runs.push(`${w.runId} ${w.status.name}`);
    const current = await anchorOf('operator');
    firstRunId = runs.find((r) => !r.startsWith(current.runId)) ?? '';
    // About 60 updates so far, a few events each: many runs, each ended by continue-as-new.
    assert.ok(runs.length > 3, runs.join('\n'));
    assert.ok(runs.filter((r) => !r.startsWith(current.runId)).every((r) => r.endsWith('CONTINUED_AS_NEW')), runs.join('\n'));
    const history = await handle.fetchHistory();
    assert.ok(history.events!.length <= SUGGEST_CONTINUE_AS_NEW_AT + 10, `${history.events!.length} events in the current run`);
    const started = history.events![0]!.workflowExecutionStartedEventAttributes!;
    assert.ok(started.continuedExecutionRunId, 'the current run continues an earlier one');
    assert.ok(firstRunId);
    const log = entries(opLog);
    assert.deepEqual({ length: current.length, head: current.head }, { length: log.length, head: log.at(-1)!.hash });
  });

  it('the billing log is anchored the same way: receipts through the API move it, and a truncation with its .head is caught by `arbiter billing verify`', async () => {
    for (const i of [1, 2, 3]) {
      const receipt = (await mintToken('receipt', { sub: `rcpt-${i}`, tenant: 'acme', plan: 'pro' }, t.config.secrets.BILLING_HMAC_SECRET!, { ttlSeconds: 600, jti: `rcpt-${i}` })).token;
      const r = await app.inject({ method: 'POST', url: '/api/billing/receipts', payload: { receipt } });
      assert.equal(r.statusCode, 201, r.body);
    }
    const file = billingLogPath(storage);
    const log = entries(file);
    const anchor = await anchorOf('billing');
    assert.deepEqual({ length: anchor.length, head: anchor.head }, { length: 3, head: log.at(-1)!.hash });
    assert.ok(billingLog(storage).verify().ok);

    const intact = await cli('billing', 'verify');
    assert.equal(intact.code, 0, intact.stdout + intact.stderr);
    assert.match(intact.stdout, /billing log intact: 3 receipts.*\n {2}anchored: 3 entries, head .* in audit-anchor-billing/);
    await tampered(file, (ls) => ls.slice(0, 2), async () => {
      const r = await cli('billing', 'verify');
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /billing log BROKEN at entry 2: the log has 2 entries but 3 are anchored .*truncated, says the anchor audit-anchor-billing \(namespace default\)/);
    });
  });
});
