// The HTTP API against its own OpenAPI document, checked by a tool that reads only the served
// document: schemathesis (scripts/bootstrap-schemathesis.sh) generates requests from
// /openapi.json, valid and invalid, sends them to the real stack, and checks every answer against
// what the document says (status, content type, body schema, headers), that nothing is a 5xx,
// that bad input is refused, that a missing token is, and that a method a path does not have
// answers 405 with Allow. Bounded and seeded, so a run takes the same path each time.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scenarioIdFromJti } from '../../contract/scenario.ts';
import { containersOf, docker, tools, waitFor } from '../support/harness.ts';
import { startStack, type Stack } from '../support/stack.ts';

/** The whole schemathesis run may take this long before it is killed and the test fails. */
const RUN_LIMIT_MS = 100_000;

/**
 * Tokens come from the environment (schemathesis substitutes ${VAR}), so none is written to disk.
 * Every route that takes an operator token gets one; the two that take only an ET or a SAT get
 * those. The SAT is single-use: the one spawn it allows is the only scenario the run can start,
 * every later spawn is 409 sat_used, which the document names.
 */
const CONFIG = `
headers = { Authorization = "Bearer \${ARBITER_CONFORMANCE_OPERATOR}" }

[[operations]]
include-path = "/api/sat"
headers = { Authorization = "Bearer \${ARBITER_CONFORMANCE_ET}" }
# A template id that matches the pattern but is not installed is 400 unknown_template (documented):
# which templates are installed is the server's to know, not the schema's.
checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 401, 403, 404, 409, 429]

[[operations]]
include-path = "/api/spawn"
headers = { Authorization = "Bearer \${ARBITER_CONFORMANCE_SAT}" }

[[operations]]
include-path = "/api/scenarios/{id}/terminal"
# A WebSocket: a plain GET is told to upgrade (426, documented); the terminal itself is the
# terminal tests' business.
checks.positive_data_acceptance.expected-statuses = [426, 400, 404, 429]
`;

interface Run { code: number | null; output: string; timedOut: boolean }

function schemathesis(bin: string, args: string[], env: Record<string, string>, cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    // In the test's temp dir: schemathesis keeps a cache (.schemathesis/) in its working directory.
    const child = spawn(bin, args, { cwd, env: { ...process.env, ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString('utf8'); });
    child.stderr.on('data', (d: Buffer) => { output += d.toString('utf8'); });
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, RUN_LIMIT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output, timedOut });
    });
  });
}

describe('the served OpenAPI document, checked by schemathesis against the running stack', () => {
  let stack: Stack;
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-conformance-'));
  // The run's one SAT, and so the one scenario it can start: a scenario's id is its SAT's jti.
  const jti = randomUUID();
  const scenarioId = scenarioIdFromJti(jti);
  before(async () => { stack = await startStack(); });
  after(async () => {
    // Spawned by schemathesis, not through stack.call: cancelled here, its containers gone before the stack stops.
    if (stack) {
      await stack.env.client.workflow.getHandle(scenarioId).cancel().catch(() => undefined);
      await waitFor(`containers of ${scenarioId} removed`, async () => ((await containersOf(scenarioId)).length === 0 ? true : undefined), 60_000).catch(async () => {
        for (const c of await containersOf(scenarioId)) await docker.getContainer(c.Id).remove({ force: true });
      });
      await stack.stop();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('every answer is one the document describes, no request gets a 5xx, and bad or unauthenticated ones are refused', async (t) => {
    const bin = tools().SCHEMATHESIS_BIN;
    assert.ok(bin, 'SCHEMATHESIS_BIN is missing from .data/tools.env: run scripts/bootstrap-schemathesis.sh');
    const config = join(dir, 'schemathesis.toml');
    writeFileSync(config, CONFIG);
    const run = await schemathesis(bin, [
      '--config-file', config,
      'run', `${stack.base}/openapi.json`,
      '--checks', 'all',
      // Needs a second user's credentials to mean anything; the contract tests show another
      // subject's scenario answers exactly like an unknown one.
      '--exclude-checks', 'object_level_authorization',
      // The coverage phase derives its cases from the schema itself (each operation's valid
      // request, then each constraint broken one at a time, each undeclared method), so it is
      // deterministic and finishes in under a minute here; random fuzzing on top ran past the
      // time this test may take on a loaded two-core machine.
      '--phases', 'examples,coverage',
      '--max-examples', '5',
      '--seed', '20261130',
      '--workers', '1',
      '--request-timeout', '20',
      '--generation-database', 'none',
      '--no-color',
    ], {
      ARBITER_CONFORMANCE_OPERATOR: await stack.operator('conformance'),
      ARBITER_CONFORMANCE_ET: await stack.et(),
      ARBITER_CONFORMANCE_SAT: await stack.satFor({ jti }),
    }, dir);
    assert.ok(!run.timedOut, `schemathesis ran past ${RUN_LIMIT_MS / 1000} s and was killed:\n${run.output}`);
    assert.equal(run.code, 0, `schemathesis found non-conformances:\n${run.output}`);
    const summary = /Test cases:\s*\n\s*(\d+) generated[^\n]*/.exec(run.output);
    assert.ok(summary && Number(summary[1]) > 100, `schemathesis generated too few cases to mean anything:\n${run.output}`);
    t.diagnostic(`schemathesis: ${summary[0].trim().replace(/\s+/g, ' ')}`);
    assert.ok(await stack.workflowCount() <= 1, 'the run started at most the one scenario its SAT allows');
  });
});
