// Where retention leaves its mark on storage, and how a deadline is computed from a verdict's
// issue time: shared by the deletion activity, the API's sweep and the tests.
import { join } from 'node:path';
import { scenarioDir } from './results.ts';

export const TOMBSTONE_FILE = 'tombstone.json';
const DAY_MS = 24 * 3600 * 1000;

/** Beside results/, not in it: it outlives the artifacts it describes. */
export function tombstonePath(storageDir: string, scenarioId: string): string {
  return join(scenarioDir(storageDir, scenarioId), TOMBSTONE_FILE);
}

export function retentionDeadline(scoredAt: string, retentionDays: number): number {
  return Date.parse(scoredAt) + retentionDays * DAY_MS;
}
