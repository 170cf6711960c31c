// End to end on the real components: the Temporal dev server (the `temporal` CLI binary), the
// Docker engine, the OPA Wasm bundle, both workers, and the API listening on loopback.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { operatorAuditPath } from '../../infra/operator-audit.ts';
import { RESULTS } from '../../infra/results.ts';
import { TEMPLATE_DIGEST_LABEL } from '../../infra/images.ts';
import { pinTemplate } from '../../infra/template-publication.ts';
import { mintToken } from '../../infra/tokens.ts';
import { SCENARIO_WORKFLOW_TYPE } from '../../contract/queues.ts';
import type { ScenarioState } from '../../contract/scenario.ts';
import { retentionWorkflowId } from '../../contract/retention.ts';
import type { RetentionView } from '../../api/services/retention.ts';
import { initialSearchAttributes } from '../../lib/operator-view.ts';
import { containersOf, docker, REPO, tools, waitFor } from '../support/harness.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { storedResults } from '../support/stored-results.ts';

const run = promisify(execFile);

describe('one scenario end to end over loopback', () => {
  let stack: Stack;
  before(async () => { stack = await startStack(); });
  after(async () => { await stack?.stop(); });

  const call: Stack['call'] = (...args) => stack.call(...args);
  const et = (sub?: string) => stack.et(sub);
  const sat = (etToken: string) => stack.sat(etToken);
  const workflowCount = () => stack.workflowCount();

  const cli = (args: string[]) => run(process.execPath, [join(REPO, 'bin', 'arbiter.js'), ...args], { env: { ...process.env, ARBITER_ENV_FILE: '/nonexistent' } });

  it('spawns hello in a hardened container, completes it, and returns a verdict that verifies offline', async () => {
    assert.equal((await call('GET', '/readyz')).status, 200);
    const satToken = await sat(await et());
    const spawned = await call('POST', '/api/spawn', satToken, {});
    assert.equal(spawned.status, 202, JSON.stringify(spawned.json));
    assert.ok(spawned.headers.get('x-correlation-id'));
    const id = spawned.json!.scenarioId as string;

    const running = await waitFor('running', async () => {
      const r = await call('GET', `/api/scenarios/${id}`, satToken);
      return r.json?.status === 'running' ? (r.json as unknown as ScenarioState) : undefined;
    });
    assert.equal(running.tenant, 'acme');
    assert.equal(running.subject, 'alice');

    // Exactly one container for the scenario, carrying every hardening setting.
    const listed = await containersOf(id);
    assert.equal(listed.length, 1);
    const info = await docker.getContainer(listed[0]!.Id).inspect();
    const hc = info.HostConfig;
    assert.equal(info.Name, `/arbiter-${id}`);
    assert.equal(info.State.Running, true);
    // Created from the image the launch checked, named by its id (a tag rebuilt meanwhile is not
    // what runs): built from the template version the entitlement pinned. The launch reads no
    // inspect after creating it, so what it reports must be what the engine says.
    assert.equal(info.Config.Image, info.Image);
    const image = await docker.getImage(info.Image).inspect();
    assert.equal(image.Config.Labels?.[TEMPLATE_DIGEST_LABEL], pinTemplate({ id: 'hello', version: '1' }).digest);
    assert.equal(running.workdir, info.Config.WorkingDir || '/');
    assert.equal(hc.NetworkMode, 'none');
    assert.deepEqual(Object.keys(info.NetworkSettings.Networks ?? {}).filter((n) => n !== 'none'), []);
    assert.equal(hc.ReadonlyRootfs, true);
    assert.deepEqual(hc.CapDrop, ['ALL']);
    assert.ok(!hc.CapAdd || (hc.CapAdd as string[]).length === 0);
    assert.ok((hc.SecurityOpt as string[] | undefined)?.includes('no-new-privileges:true'));
    assert.equal(hc.Privileged, false);
    assert.match(info.Config.User, /^[1-9][0-9]*:[1-9][0-9]*$/);
    assert.ok(hc.Memory && hc.Memory > 0 && hc.MemorySwap === hc.Memory);
    assert.ok(hc.NanoCpus && hc.NanoCpus > 0);
    assert.ok(hc.PidsLimit && hc.PidsLimit > 0);
    assert.match(Object.values(hc.Tmpfs ?? {})[0] ?? '', /size=\d+m/);
    assert.equal(hc.IpcMode, 'private');
    assert.equal(info.Config.Labels['io.arbiter.tenant'], 'acme');

    // No secret is in the container: the party inside is the one being judged.
    assert.deepEqual(info.Config.Env.filter((e) => /COMPLETION|TOKEN|SECRET/i.test(e) || /eyJ[A-Za-z0-9_-]*\./.test(e)), [], 'no token in the container\'s environment');

    // The scenario host's controller gets the completion token the documented way (README), with
    // its operator token, through the CLI, and completes the scenario with it.
    const operatorToken = await stack.operator('host-controller');
    const issued = await cli(['--api', stack.base, '--json', 'completion-token', id, '--token', operatorToken]);
    const { token: completionToken, expiresAt } = JSON.parse(issued.stdout) as { token: string; expiresAt: string };
    assert.ok(Date.parse(expiresAt) <= Date.parse(running.updatedAt) + running.ttlSeconds! * 1000, `the token (until ${expiresAt}) dies with the scenario's TTL`);
    const issuedEntries = readFileSync(operatorAuditPath(stack.t.config.storageDir), 'utf8').trim().split('\n')
      .map((l) => JSON.parse(l) as { actor: string; event: string; data?: { scenarioId?: string } })
      .filter((e) => e.event === 'scenario.completion_token' && e.data?.scenarioId === id);
    assert.deepEqual(issuedEntries.map((e) => e.actor), ['operator:host-controller'], 'the issue is in the operator audit log, with who asked');
    const body = { outcome: 'success', submission: { answer: 'hello' } };
    const done = await call('POST', `/api/scenarios/${id}/complete`, completionToken, body);
    assert.equal(done.status, 202, JSON.stringify(done.json));
    const again = await call('POST', `/api/scenarios/${id}/complete`, completionToken, body);
    assert.equal(again.status, 202, 'the same completion again is answered the same way');

    const scored = await waitFor('scored', async () => {
      const r = await call('GET', `/api/scenarios/${id}`, satToken);
      if (r.json?.status === 'failed') throw new Error(`scenario failed: ${String(r.json.reason)}`);
      return r.json?.status === 'scored' ? (r.json as unknown as ScenarioState) : undefined;
    }, 90_000);
    assert.deepEqual(scored.score, { score: 2, maxScore: 2, passed: true });

    const verdict = await call('GET', `/api/scenarios/${id}/verdict`, satToken);
    assert.equal(verdict.status, 200);
    assert.equal(typeof verdict.json!.keyId, 'string');

    // Read through the store the stack uses: the storage folder, or a download from S3.
    const stored = await storedResults(stack.t.config, id);
    const results = stored.dir;
    // The token is in no evidence file: not in the logs, the inspect output or anything collected.
    const evidenceDir = join(results, RESULTS.evidenceDir);
    const evidenceFiles = readdirSync(evidenceDir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    assert.ok(evidenceFiles.length >= 8, `evidence was collected (${evidenceFiles.length} files)`);
    for (const f of evidenceFiles) {
      assert.ok(!readFileSync(join(f.parentPath, f.name)).includes(completionToken), `${f.name} does not contain the completion token`);
    }
    // Once the scenario has ended, no token is issued for it any more.
    const late = await call('POST', `/api/scenarios/${id}/completion-token`, operatorToken);
    assert.equal(late.status, 409, JSON.stringify(late.json));
    assert.equal((late.json!.error as { code: string }).code, 'not_running');

    // Run as an operator of this deployment would: its key store is configured, not guessed.
    const deployment = { ...process.env, ARBITER_ENV_FILE: '/nonexistent', ARBITER_KEYS_DIR: stack.t.config.keysDir };
    const deploymentCli = (args: string[]) => run(process.execPath, [join(REPO, 'bin', 'arbiter.js'), ...args], { env: deployment });
    const ok = await deploymentCli(['verify', results]);
    assert.match(ok.stdout, new RegExp(`^keys: ${stack.t.config.keysDir} \\(the deployment's key store, ARBITER_KEYS_DIR\\)\nverified: `));
    // The CLI from its TypeScript sources (what runs when the prebuilt bundle is stale) says the same.
    const fromSources = await run(process.execPath, [join(REPO, 'bin', 'arbiter.js'), 'verify', results], { env: { ...deployment, ARBITER_CLI_SOURCES: '1' } });
    assert.equal(fromSources.stdout, ok.stdout);
    // A third party with no deployment: refused until it names the keys it trusts.
    const { ARBITER_KEYS_DIR: _configured, ...outsider } = deployment;
    await assert.rejects(run(process.execPath, [join(REPO, 'bin', 'arbiter.js'), 'verify', results], { env: outsider }), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 1);
      assert.match(err.stderr, /pass --keys/);
      return true;
    });

    // One flipped byte in score.json and the offline check fails, naming the file.
    const scoreFile = join(results, RESULTS.score);
    const bytes = readFileSync(scoreFile);
    bytes[bytes.length - 2] = bytes[bytes.length - 2]! ^ 0x01;
    writeFileSync(scoreFile, bytes);
    await assert.rejects(deploymentCli(['verify', results]), (err: { code: number; stdout: string }) => {
      assert.equal(err.code, 1);
      assert.match(err.stdout, /score\.json/);
      return true;
    });

    stored.cleanup();
    assert.deepEqual(await containersOf(id), [], 'no container is left');
  });

  it('when the same SAT is sent again, spawn answers 409 and starts nothing', async () => {
    const satToken = await sat(await et('bob'));
    assert.equal((await call('POST', '/api/spawn', satToken, {})).status, 202);
    const before = await workflowCount();
    const replay = await call('POST', '/api/spawn', satToken, {});
    assert.equal(replay.status, 409);
    assert.deepEqual(Object.keys(replay.json!), ['error']);
    assert.equal((replay.json!.error as { code: string }).code, 'sat_used');
    assert.equal(await workflowCount(), before);
  });

  it('when the policy denies the track, spawn answers 403 with the reasons', async () => {
    // Mint a SAT the API would never issue (track outside the plan) to reach the workflow's gate.
    const { token } = await mintToken('sat', {
      sub: 'carol', tenant: 'acme', plan: 'free', template: 'hello', template_version: '1', track: 'web', retention_days: 7, jti: crypto.randomUUID(),
    }, stack.t.config.secrets.SAT_HMAC_SECRET!, { ttlSeconds: 300 });
    const r = await call('POST', '/api/spawn', token, {});
    assert.equal(r.status, 403);
    const error = r.json!.error as { code: string; reasons: string[] };
    assert.equal(error.code, 'policy_denied');
    assert.ok(error.reasons.some((x) => x.includes('"web"') && x.includes('"free"')), JSON.stringify(error.reasons));
  });

  describe('bad input gets the contract 4xx and starts nothing', () => {
    const cases: Array<[string, () => Promise<{ status: number; json?: Record<string, unknown> | undefined }>, number]> = [
      ['malformed JSON to /api/sat', async () => call('POST', '/api/sat', await et(), undefined, { raw: '{"template": "hello",' }), 400],
      ['an unknown field in the SAT request', async () => call('POST', '/api/sat', await et(), { template: 'hello', track: 'intro', admin: true }), 400],
      ['an unknown template', async () => call('POST', '/api/sat', await et(), { template: 'nope', track: 'intro' }), 400],
      ['a track outside the plan', async () => call('POST', '/api/sat', await et(), { template: 'hello', track: 'web' }), 403],
      ['no token', async () => call('POST', '/api/sat', undefined, { template: 'hello', track: 'intro' }), 401],
      ['a garbage token', async () => call('POST', '/api/spawn', 'not.a.jwt', {}), 401],
      ['an ET used as a SAT (valid, but not a kind this route takes)', async () => call('POST', '/api/spawn', await et(), {}), 403],
      ['a SAT signed with another secret', async () => call('POST', '/api/spawn', (await mintToken('sat', {
        sub: 'alice', tenant: 'acme', plan: 'free', template: 'hello', template_version: '1', track: 'intro', retention_days: 7, jti: crypto.randomUUID(),
      }, { current: Buffer.alloc(32, 7), previous: [] }, { ttlSeconds: 300 })).token, {}), 401],
      ['an unknown scenario id shape', async () => call('GET', '/api/scenarios/..%2F..%2Fetc', await et()), 400],
      ['a scenario that does not exist', async () => call('GET', `/api/scenarios/scn-${crypto.randomUUID()}`, await et()), 404],
      ['a completion with an ET instead of a completion token', async () => call('POST', `/api/scenarios/scn-${crypto.randomUUID()}/complete`, await et(), { outcome: 'success', submission: {} }), 403],
      ['a completion token asked for with a SAT (only operators get one)', async () => call('POST', `/api/scenarios/scn-${crypto.randomUUID()}/completion-token`, await sat(await et())), 403],
      ['a completion token asked for with an ET', async () => call('POST', `/api/scenarios/scn-${crypto.randomUUID()}/completion-token`, await et()), 403],
      ['a completion token for a scenario that does not exist', async () => call('POST', `/api/scenarios/scn-${crypto.randomUUID()}/completion-token`, await stack.operator()), 404],
      ['a completion token for a malformed scenario id', async () => call('POST', '/api/scenarios/nope/completion-token', await stack.operator()), 400],
      ['a completion with a forged completion token', async () => call('POST', `/api/scenarios/scn-${crypto.randomUUID()}/complete`, 'eyJhbGciOiJIUzI1NiIsInR5cCI6ImFyYml0ZXItY29tcGxldGlvbitqd3QifQ.eyJzdWIiOiJ4In0.c2ln', { outcome: 'success', submission: {} }), 401],
    ];
    for (const [what, send, expected] of cases) {
      it(`${what} → ${expected}`, async () => {
        const before = await workflowCount();
        const r = await send();
        assert.equal(r.status, expected, JSON.stringify(r.json));
        const error = r.json?.error as { code?: unknown; message?: unknown } | undefined;
        assert.equal(typeof error?.code, 'string');
        assert.equal(typeof error?.message, 'string');
        assert.equal(await workflowCount(), before);
      });
    }
  });

  it('when no worker can answer for a scenario, reading it answers from the recorded search attributes and completing it answers 503, instead of hanging', async () => {
    // A scenario on a queue nobody polls: as if every worker were down.
    const input = {
      scenarioId: `scn-${crypto.randomUUID()}`, correlationId: 'no-worker', subject: 'erin', tenant: 'acme', plan: 'free',
      template: { id: 'hello', version: '1' }, track: 'intro', retentionDays: 7, createdAt: new Date().toISOString(),
    };
    await stack.env.client.workflow.start(SCENARIO_WORKFLOW_TYPE, {
      workflowId: input.scenarioId, taskQueue: 'nobody-polls-this', args: [input], typedSearchAttributes: initialSearchAttributes(input),
    });
    try {
      const op = await stack.operator();
      const read = await call('GET', `/api/scenarios/${input.scenarioId}`, op);
      assert.equal(read.status, 200, JSON.stringify(read.json));
      assert.equal(read.json!.status, 'pending');
      assert.equal(read.json!.tenant, 'acme');
      assert.match(String(read.json!.reason), /no worker answered/);
      const complete = await call('POST', `/api/scenarios/${input.scenarioId}/complete`, op, { outcome: 'success', submission: {} });
      assert.equal(complete.status, 503, JSON.stringify(complete.json));
      assert.equal((complete.json!.error as { code: string }).code, 'completion_unavailable');
    } finally {
      await stack.env.client.workflow.getHandle(input.scenarioId).terminate('test over');
    }
  });

  it('when a completion holds a number JSON cannot represent (1e400), it answers 400, the scenario keeps running, and a good completion still scores it', async () => {
    const satToken = await sat(await et('frank'));
    const id = (await call('POST', '/api/spawn', satToken, {})).json!.scenarioId as string;
    await waitFor('running', async () => ((await call('GET', `/api/scenarios/${id}`, satToken)).json?.status === 'running' ? true : undefined));
    const op = await stack.operator();
    for (const raw of ['{"outcome":"success","submission":{"n":1e400}}', '{"outcome":"success","submission":{"deep":[1,{"x":-1e999}]}}']) {
      const r = await call('POST', `/api/scenarios/${id}/complete`, op, undefined, { raw });
      assert.equal(r.status, 400, JSON.stringify(r.json));
      assert.deepEqual(Object.keys(r.json!), ['error']);
      assert.equal((r.json!.error as { code: string }).code, 'number_not_representable');
    }
    assert.equal((await call('GET', `/api/scenarios/${id}`, satToken)).json!.status, 'running');
    // The workflow refuses it too, for an update sent past the API: the temporal CLI passes the
    // JSON text through as it is, so the workflow parses 1e400 into Infinity.
    const cli = await run(tools().TEMPORAL_BIN, [
      'workflow', 'update', 'execute', '--address', stack.env.address, '--namespace', stack.t.config.temporalNamespace, '--workflow-id', id, '--name', 'complete',
      '--input', '{"outcome":"success","submission":{"n":1e400},"actor":"operator:cli"}',
    ]).then(() => undefined, (err: { code: number; stderr: string; stdout: string }) => err);
    assert.ok(cli, 'the update was refused');
    assert.match(cli.stderr + cli.stdout, /JSON cannot represent/);
    const done = await call('POST', `/api/scenarios/${id}/complete`, op, { outcome: 'success', submission: { answer: 'hello' } });
    assert.equal(done.status, 202, JSON.stringify(done.json));
    const final = await waitFor('scored', async () => {
      const s = await call('GET', `/api/scenarios/${id}`, satToken);
      return s.json?.status === 'scored' ? s.json : undefined;
    });
    assert.equal(final.status, 'scored');
  });

  it('a scenario of another subject answers exactly like one that does not exist (404), so ids cannot be probed', async () => {
    const satToken = await sat(await et('dave'));
    const id = (await call('POST', '/api/spawn', satToken, {})).json!.scenarioId as string;
    const unknown = `scn-${crypto.randomUUID()}`;
    const mallory = await et('mallory');
    const stranger = await call('GET', `/api/scenarios/${id}`, mallory);
    const missing = await call('GET', `/api/scenarios/${unknown}`, mallory);
    assert.equal(stranger.status, 404);
    assert.equal(missing.status, 404);
    assert.deepEqual(JSON.parse(JSON.stringify(stranger.json).replaceAll(id, '<id>')), JSON.parse(JSON.stringify(missing.json).replaceAll(unknown, '<id>')));
    for (const [method, path] of [['POST', 'cancel'], ['GET', 'verdict']] as const) {
      const r = await call(method, `/api/scenarios/${id}/${path}`, mallory);
      assert.equal(r.status, 404, `${method} ${path}: ${JSON.stringify(r.json)}`);
      assert.equal((r.json!.error as { code: string }).code, 'not_found');
    }
    const cancel = await call('POST', `/api/scenarios/${id}/cancel`, satToken);
    assert.equal(cancel.status, 202);
    const final = await waitFor('cancelled', async () => {
      const s = await call('GET', `/api/scenarios/${id}`, satToken);
      return s.json?.status === 'cancelled' ? s.json : undefined;
    });
    assert.equal(final.status, 'cancelled');
    await waitFor('no container', async () => ((await containersOf(id)).length === 0 ? true : undefined));
  });

  it('a cancelled scenario keeps what it left for its plan\'s retention days: its retention workflow runs, the API shows it, an operator holds it and the sweep lists it', async () => {
    const satToken = await sat(await et('erin'));
    const id = (await call('POST', '/api/spawn', satToken, {})).json!.scenarioId as string;
    await waitFor('running', async () => ((await call('GET', `/api/scenarios/${id}`, satToken)).json?.status === 'running' ? true : undefined));
    assert.equal((await call('POST', `/api/scenarios/${id}/cancel`, satToken)).status, 202);
    const final = await waitFor('cancelled, with its retention', async () => {
      const s = (await call('GET', `/api/scenarios/${id}`, satToken)).json as (ScenarioState & { retention?: RetentionView }) | undefined;
      return s?.status === 'cancelled' && s.retention ? s : undefined;
    });
    assert.equal(final.retention!.status, 'retained');
    assert.equal(Date.parse(final.retention!.deleteAfter) - Date.parse(final.updatedAt), 7 * 24 * 3600 * 1000, 'the free plan\'s 7 days from the cancel');
    assert.equal((await stack.env.client.workflow.getHandle(retentionWorkflowId(id)).describe()).status.name, 'RUNNING');
    const kept = await storedResults(stack.t.config, id);
    assert.ok(readdirSync(kept.dir).includes(RESULTS.audit), 'its audit log is kept');
    kept.cleanup();

    const operator = await stack.operator();
    assert.equal((await call('POST', `/api/scenarios/${id}/hold`, operator, { reason: 'e2e' })).status, 204);
    await waitFor('held', async () => ((await call('GET', `/api/scenarios/${id}`, satToken)).json?.retention as RetentionView | undefined)?.held ? true : undefined);
    const sweep = await call('POST', '/api/retention/sweep', operator, { dryRun: true });
    assert.ok((sweep.json!.held as string[]).includes(id), JSON.stringify(sweep.json));
    assert.equal((await call('DELETE', `/api/scenarios/${id}/hold`, operator)).status, 204);
    await waitFor('released', async () => ((await call('GET', `/api/scenarios/${id}`, satToken)).json?.retention as RetentionView | undefined)?.held === false ? true : undefined);
    assert.equal((await call('GET', `/api/scenarios/${id}`, satToken)).json!.status, 'cancelled', 'retained, not expired');
  });
});
