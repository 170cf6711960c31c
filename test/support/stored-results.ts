// A scenario's results as a folder on this machine, read through the artifact store the config
// selects: the storage folder itself for the local store, a fresh download for S3. Tests that look
// at results files use it, so they run the same against either store.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadTree, openArtifactStore } from '../../infra/artifact-store.ts';
import type { Config } from '../../infra/config.ts';
import { resultsDir, resultsKey } from '../../infra/results.ts';

export async function storedResults(config: Pick<Config, 'storageDir' | 'artifactStore'>, scenarioId: string): Promise<{ dir: string; cleanup(): void }> {
  if (config.artifactStore.kind === 'local') return { dir: resultsDir(config.storageDir, scenarioId), cleanup: () => undefined };
  const root = mkdtempSync(join(tmpdir(), 'arbiter-results-'));
  const dir = join(root, 'results');
  await downloadTree(openArtifactStore(config), resultsKey(scenarioId), dir);
  return { dir, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}
