// Inspect (UK AISI inspect-ai) on Arbiter, end to end on the real stack: Inspect's own sandbox
// conformance suite against the `arbiter` provider (clients/inspect), then an eval whose samples
// each run in their own log-triage scenario, driven by mockllm's scripted tool calls. Each
// sample's scenario must end scored, with results that `arbiter verify` accepts.
// Needs INSPECT_PYTHON in .data/tools.env (scripts/bootstrap.sh creates .data/inspect-venv).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { resultsDir, RESULTS } from '../../infra/results.ts';
import type { ScenarioState } from '../../contract/scenario.ts';
import { SCENARIO_WORKFLOW_TYPE } from '../../contract/queues.ts';
import { buildTiktokenCache } from '../../scripts/tiktoken-cache.ts';
import { containersOf, REPO, tools, waitFor } from '../support/harness.ts';
import { startStack, type Stack } from '../support/stack.ts';

const run = promisify(execFile);
const CLIENT = join(REPO, 'clients', 'inspect');

interface CheckRow { check: string; result: string; seconds: number; error: string | null; reason: string | null }
interface EvalLog {
  status: string;
  results?: { scores: Array<{ metrics: Record<string, { value: number }> }> };
  samples?: Array<{ id: string; store: Record<string, unknown>; scores?: Record<string, { value: unknown; answer?: string }>; error?: unknown }>;
  error?: unknown;
}

describe('Inspect sandbox provider on the real stack', () => {
  let stack: Stack;
  let work: string;
  let python: string;
  let baseEnv: NodeJS.ProcessEnv;

  before(async () => {
    const t = tools();
    if (!t.INSPECT_PYTHON) throw new Error('INSPECT_PYTHON missing from .data/tools.env: run scripts/bootstrap.sh');
    python = t.INSPECT_PYTHON;
    work = mkdtempSync(join(tmpdir(), 'arbiter-inspect-'));
    stack = await startStack();
    baseEnv = {
      ...process.env,
      ARBITER_URL: stack.base,
      ARBITER_ET: await stack.et('agent', 'acme', 'pro'),
      TIKTOKEN_CACHE_DIR: dirname(buildTiktokenCache(join(work, 'tiktoken'))),
      // Inspect keeps its own state (eval-set ids, traces) under XDG dirs: not in the user's home
      XDG_DATA_HOME: join(work, 'xdg-data'),
      XDG_CACHE_HOME: join(work, 'xdg-cache'),
      INSPECT_TELEMETRY: '',
    };
    delete baseEnv.ARBITER_OPERATOR_TOKEN;
  });
  after(async () => {
    // Scenarios spawned by Python are not in the stack's own list of what to cancel at stop: a
    // runner that died mid-way must not leave containers behind.
    if (stack) {
      for await (const wf of stack.env.client.workflow.list({ query: `WorkflowType = '${SCENARIO_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'` })) {
        await stack.env.client.workflow.getHandle(wf.workflowId).cancel().catch(() => undefined);
        await waitFor(`containers of ${wf.workflowId} removed`, async () => ((await containersOf(wf.workflowId)).length === 0 ? true : undefined), 30_000).catch(() => undefined);
      }
    }
    await stack?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const op = () => stack.operator('inspect-e2e');
  async function scoredState(id: string): Promise<ScenarioState> {
    const token = await op();
    return waitFor(`scenario ${id} scored`, async () => {
      const r = await stack.call('GET', `/api/scenarios/${id}`, token);
      const status = r.json?.status;
      if (status === 'failed' || status === 'cancelled' || status === 'timed_out') throw new Error(`scenario ${id} ended ${String(status)}: ${JSON.stringify(r.json)}`);
      return status === 'scored' ? (r.json as unknown as ScenarioState) : undefined;
    }, 120_000);
  }
  async function verify(id: string): Promise<string> {
    const results = resultsDir(stack.t.config.storageDir, id);
    const { stdout } = await run(process.execPath, [join(REPO, 'bin', 'arbiter.js'), 'verify', results], {
      env: { ...process.env, ARBITER_ENV_FILE: '/nonexistent', ARBITER_KEYS_DIR: stack.t.config.keysDir },
    });
    return stdout;
  }

  it('passes Inspect\'s own conformance suite (self_check) and a prompt-timeout check: every check passes or is allow-listed with a reason', async (t) => {
    const out = join(work, 'self-check.json');
    const r = await run(python, [join(CLIENT, 'tests', 'run_self_check.py'), '--template', 'log-triage', '--track', 'forensics', '--json', out], {
      env: baseEnv, maxBuffer: 16 * 1024 * 1024, timeout: 20 * 60_000,
    }).catch((err: { stdout?: string; stderr?: string; code?: number }) => {
      assert.fail(`self_check runner exited ${err.code}:\n${err.stdout}\n${err.stderr?.slice(-4000)}`);
    });
    t.diagnostic(r.stdout);
    const { checks } = JSON.parse(readFileSync(out, 'utf8')) as { checks: CheckRow[] };
    assert.ok(checks.length >= 40, `the whole suite ran (${checks.length} checks)`);
    const failed = checks.filter((c) => c.result === 'FAIL');
    assert.deepEqual(failed, [], 'no check failed outside the allow-list');
    for (const c of checks.filter((x) => x.result === 'allowed' || x.result === 'skipped')) assert.ok(c.reason, `${c.check} is ${c.result} with a reason`);
    assert.ok(checks.filter((c) => c.result === 'pass').length >= 30, 'most of the suite passes outright');
  });

  it('an eval with mockllm solves log-triage, one scenario per sample; each scenario is scored and its results verify offline', async () => {
    const logDir = join(work, 'logs');
    await run(join(dirname(python), 'inspect'), [
      // relative: Inspect globs the task path, and refuses absolute patterns
      'eval', 'clients/inspect/tests/task.py', '--model', 'mockllm/model',
      '--log-dir', logDir, '--log-format', 'json', '--display', 'plain', '--no-fail-on-error',
    ], { env: { ...baseEnv, ARBITER_OPERATOR_TOKEN: await op() }, cwd: REPO, maxBuffer: 16 * 1024 * 1024, timeout: 15 * 60_000 })
      .catch((err: { stdout?: string; stderr?: string; code?: number }) => {
        assert.fail(`inspect eval exited ${err.code}:\n${err.stdout?.slice(-4000)}\n${err.stderr?.slice(-4000)}`);
      });
    const logs = readdirSync(logDir).filter((f) => f.endsWith('.json'));
    assert.equal(logs.length, 1, `one eval log: ${logs.join(', ')}`);
    const log = JSON.parse(readFileSync(join(logDir, logs[0]!), 'utf8')) as EvalLog;
    assert.equal(log.status, 'success', JSON.stringify(log.error ?? log.samples?.map((s) => s.error)));
    assert.equal(log.results?.scores[0]?.metrics.accuracy?.value, 1, 'every sample found the intruder');

    const samples = log.samples ?? [];
    assert.equal(samples.length, 2);
    const ids = samples.map((s) => s.store.arbiter_scenario_id as string);
    assert.equal(new Set(ids).size, 2, `each sample had its own scenario: ${ids.join(', ')}`);
    for (const [i, id] of ids.entries()) {
      assert.equal(samples[i]!.error, undefined, `sample ${samples[i]!.id} ran without error`);
      assert.match(id, /\S/);
      assert.equal(samples[i]!.scores?.answer_file?.answer, '203.0.113.77 deploy');
      // Arbiter's own scorer, outside the scenario, over what was collected from it, agrees.
      const state = await scoredState(id);
      assert.deepEqual(state.score, { score: 3, maxScore: 3, passed: true }, `scenario ${id}`);
      assert.match(await verify(id), /verified/);
      // The agent's commands are evidence: the transcript is in the results the verdict binds.
      const manifest = readFileSync(join(resultsDir(stack.t.config.storageDir, id), RESULTS.evidenceDir, 'manifest.json'), 'utf8');
      assert.match(manifest, /transcript\.jsonl/, `scenario ${id}'s manifest lists its transcript`);
    }
  });
});
