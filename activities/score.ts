// Scoring runs the template's pinned scorer image in a fresh, hardened container over the
// evidence mounted read-only: the subject never had a chance to touch the scorer or its input.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { Type } from 'typebox';
import { Value } from 'typebox/value';
import { canonicalJson } from '../lib/canonical-json.ts';
import { sha256Hex } from '../infra/sha256.ts';
import { resultsDir, resultsKey, RESULTS } from '../infra/results.ts';
import { MANIFEST_FILE } from '../infra/evidence-manifest.ts';
import { downloadTree, type ArtifactStore } from '../infra/artifact-store.ts';
import type { Template } from '../infra/template.ts';
import type { ScoreResult } from '../infra/verdict.ts';
import { FailureTypes } from '../contract/failures.ts';
import { hardenedSpec, LABELS, scorerContainerName } from './container-spec.ts';
import { demuxDockerLog } from './collect-evidence.ts';
import { isNotFound, pinnedImage } from './launch-and-teardown.ts';

const ScoreSchema = Type.Object({
  score: Type.Number({ minimum: 0 }),
  maxScore: Type.Number({ exclusiveMinimum: 0 }),
  passed: Type.Boolean(),
  checks: Type.Array(Type.Object({ name: Type.String({ minLength: 1, maxLength: 128 }), passed: Type.Boolean() }, { additionalProperties: false }), { maxItems: 256 }),
}, { additionalProperties: false });

const SCORER_LIMITS = { memoryMb: 64, cpus: 0.5, pids: 32, tmpfsMb: 8 };

/** Turns the scorer's stdout into a score, or says exactly why it is not one. */
export function parseScorerOutput(stdout: string): ScoreResult {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw ApplicationFailure.nonRetryable(`scorer printed no JSON score (last line: ${JSON.stringify(line.slice(0, 200))})`, FailureTypes.scorerFailed);
  }
  if (!Value.Check(ScoreSchema, parsed)) {
    const first = Value.Errors(ScoreSchema, parsed)[0];
    throw ApplicationFailure.nonRetryable(`scorer output is not a valid score: ${first?.instancePath || '/'} ${first?.message ?? ''}`, FailureTypes.scorerFailed);
  }
  if (parsed.score > parsed.maxScore) throw ApplicationFailure.nonRetryable('scorer gave a score above its maximum', FailureTypes.scorerFailed);
  return parsed;
}

export function createScoringActivities(deps: { docker: Docker; storageDir: string; runtime?: string | undefined; hostId: string; store?: ArtifactStore | undefined }) {
  async function removeIfPresent(name: string) {
    try {
      await deps.docker.getContainer(name).remove({ force: true, v: true });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async function runScorer(req: { scenarioId: string; template: Template; templateDigest: string }): Promise<{ score: ScoreResult; scoreSha256: string }> {
    const dir = resultsDir(deps.storageDir, req.scenarioId);
    // The scorer reads a folder on this host: a working copy dropped after an earlier attempt
    // uploaded it is fetched back from the store.
    if (deps.store?.remote && !existsSync(join(dir, RESULTS.evidenceDir, MANIFEST_FILE))) {
      await downloadTree(deps.store, resultsKey(req.scenarioId, RESULTS.evidenceDir), join(dir, RESULTS.evidenceDir));
    }
    const name = scorerContainerName(req.scenarioId);
    // The scorer is pinned exactly like the scenario image: same template version, same digest.
    const image = await pinnedImage(deps.docker, req.template.scorer.tag, req.templateDigest);
    // Scoring is deterministic, so a leftover from an interrupted attempt is simply replaced.
    await removeIfPresent(name);
    const container = await deps.docker.createContainer(hardenedSpec({
      name,
      image: image.Id,
      command: req.template.scorer.command,
      user: req.template.user,
      limits: SCORER_LIMITS,
      readOnlyBinds: [`${join(dir, RESULTS.evidenceDir)}:/evidence`],
      runtime: deps.runtime,
      labels: { [LABELS.scenario]: req.scenarioId, [LABELS.role]: 'scorer', [LABELS.template]: `${req.template.id}@${req.template.version}`, [LABELS.host]: deps.hostId },
    }));
    try {
      await container.start();
      const timeoutMs = req.template.scorer.timeoutSeconds * 1000;
      let timer: NodeJS.Timeout | undefined;
      // A cancelled scenario (its cancellation arrives with the next heartbeat) stops waiting at
      // once: the finally below removes the scorer, instead of it running out its timeout.
      const result = await Promise.race([
        container.wait() as Promise<{ StatusCode: number }>,
        new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs); }),
        Context.current().cancelled,
      ]).finally(() => clearTimeout(timer));
      if (result === 'timeout') {
        throw ApplicationFailure.nonRetryable(`scorer did not finish within ${req.template.scorer.timeoutSeconds}s`, FailureTypes.scorerFailed);
      }
      const logs = demuxDockerLog(await container.logs({ stdout: true, stderr: false, follow: false }));
      if (result.StatusCode !== 0) {
        throw ApplicationFailure.nonRetryable(`scorer exited with code ${result.StatusCode}`, FailureTypes.scorerFailed);
      }
      const score = parseScorerOutput(logs);
      const bytes = canonicalJson(score);
      writeFileSync(join(dir, RESULTS.score), bytes, { mode: 0o644 });
      if (deps.store) await deps.store.putFile(resultsKey(req.scenarioId, RESULTS.score), join(dir, RESULTS.score));
      Context.current().log.info('scored', { scenarioId: req.scenarioId, score: score.score, maxScore: score.maxScore });
      return { score, scoreSha256: sha256Hex(bytes) };
    } finally {
      await removeIfPresent(name);
    }
  }
  // `score` is step 8's name; `runScorer` stays registered for scenarios scheduled before the
  // rename (workflows/patches.ts ACTIVITY_NAMES_BY_STEP_PATCH), whose histories name it.
  return { score: runScorer, runScorer };
}
