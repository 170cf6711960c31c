// score.json is canonical JSON (RFC 8785) from a deterministic scorer: the same evidence scored in
// two separate processes, each running the real scorer container, gives the same bytes.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { canonicalJson } from '../../lib/canonical-json.ts';
import { resultsDir, RESULTS } from '../../infra/results.ts';
import { DEFAULT_TEMPLATES_DIR } from '../../infra/template.ts';
import { containersOf, REPO } from '../support/harness.ts';

const run = promisify(execFile);

describe('score determinism across processes', () => {
  const root = mkdtempSync(join(tmpdir(), 'arbiter-score-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  it('when the same evidence is scored twice in separate processes, score.json is byte-identical and canonical', async () => {
    const evidence = join(root, 'evidence');
    mkdirSync(evidence);
    writeFileSync(join(evidence, 'container.log'), 'hello, arbiter: scenario started\n');
    writeFileSync(join(evidence, 'submission.json'), canonicalJson({ outcome: 'success', submission: { answer: 'hello' } }));

    const runs = ['a', 'b'].map((name) => {
      const storageDir = join(root, name);
      const scenarioId = `scn-${randomUUID()}`;
      cpSync(evidence, join(resultsDir(storageDir, scenarioId), RESULTS.evidenceDir), { recursive: true });
      return { storageDir, scenarioId };
    });
    const outputs = await Promise.all(runs.map((r) =>
      run(process.execPath, ['--import', 'tsx', join(REPO, 'test', 'support', 'score-once.ts'), r.storageDir, r.scenarioId, DEFAULT_TEMPLATES_DIR], { cwd: REPO })));

    const [a, b] = runs.map((r) => readFileSync(join(resultsDir(r.storageDir, r.scenarioId), RESULTS.score)));
    assert.ok(a && b);
    assert.ok(a.equals(b), `score.json differs:\n${a.toString()}\n${b.toString()}`);
    const parsed: unknown = JSON.parse(a.toString('utf8'));
    assert.equal(a.toString('utf8'), canonicalJson(parsed), 'score.json is in canonical form');
    assert.deepEqual(parsed, { score: 2, maxScore: 2, passed: true, checks: [{ name: 'started', passed: true }, { name: 'answered', passed: true }] });
    // Each process reported the digest of exactly those bytes.
    const digests = outputs.map((o) => (JSON.parse(o.stdout) as { scoreSha256: string }).scoreSha256);
    assert.equal(digests[0], digests[1]);
    for (const r of runs) assert.deepEqual(await containersOf(r.scenarioId), [], 'the scorer container is removed');
  });
});
