// Child process of test/e2e/score-determinism.test.ts: runs the real scorer activity once, over
// the evidence already in <storageDir>/scenarios/<id>/results/evidence, against the real engine.
// MockActivityEnvironment only supplies the activity context (logger, info); the scorer, its
// container and the files are real.
import { MockActivityEnvironment } from '@temporalio/testing';
import { createScoringActivities } from '../../activities/score.ts';
import { loadTemplate, templateDir } from '../../infra/template.ts';
import { templateDigest } from '../../infra/template-publication.ts';
import { docker } from './harness.ts';

const [storageDir, scenarioId, templatesDir] = process.argv.slice(2);
if (!storageDir || !scenarioId || !templatesDir) throw new Error('usage: score-once.ts <storageDir> <scenarioId> <templatesDir>');
const ref = { id: 'hello', version: '1' };
const { runScorer } = createScoringActivities({ docker, storageDir, hostId: 'score-determinism' });
const result: Awaited<ReturnType<typeof runScorer>> = await new MockActivityEnvironment().run(runScorer, {
  scenarioId,
  template: loadTemplate(ref, templatesDir),
  templateDigest: templateDigest(templateDir(ref, templatesDir)),
});
process.stdout.write(JSON.stringify({ scoreSha256: result.scoreSha256 }));
