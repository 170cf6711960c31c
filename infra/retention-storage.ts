// Where retention leaves its mark on storage: shared by the deletion activity, the API's sweep and
// the tests. The deadline itself is pure (lib/retention-deadline.ts).
import { join } from 'node:path';
import { scenarioDir } from './results.ts';

export const TOMBSTONE_FILE = 'tombstone.json';

/** Beside results/, not in it: it outlives the artifacts it describes. */
export function tombstonePath(storageDir: string, scenarioId: string): string {
  return join(scenarioDir(storageDir, scenarioId), TOMBSTONE_FILE);
}

export const tombstoneKey = (scenarioId: string): string => `scenarios/${scenarioId}/${TOMBSTONE_FILE}`;
