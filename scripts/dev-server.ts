// The flags every `temporal server start-dev` of Arbiter gets (the stack, the bench, the tests), so
// they run the same server: its SQLite file in write-ahead-log mode with a sync at each commit,
// its transfer queue read up to 100 times a second, and Arbiter's search attributes.
//   node --import tsx scripts/dev-server.ts --flags     the flags, for scripts/stack.sh
//
// Why WAL: in SQLite's default rollback-journal mode every commit writes and syncs the journal,
// then the database, then deletes the journal; in WAL mode a commit appends to the log and syncs
// it once. With synchronous=full that sync happens at every commit, so a transaction the server
// has answered for survives a power loss as before (synchronous=normal would not: it only syncs at
// checkpoints). Measured with `npm run bench -- pools throughput` (README, issue 15).
import { pathToFileURL } from 'node:url';
import { SEARCH_ATTRIBUTES } from '../contract/queues.ts';

export const DEV_SERVER_SQLITE_PRAGMAS = ['journal_mode=wal', 'synchronous=full'];

/**
 * The history shard's transfer-queue reader, which hands each new workflow and activity task to
 * matching, reads at most 20 times a second by default, and the dev server has one shard for every
 * workflow. A scenario's next task written within that spacing of the shard's last read waited
 * for it: in `npm run bench -- pools`, about a third of the pick-ups took 20-50 ms instead of
 * 3-5, and made the pool hit's p95 1.3-1.5x a raw create+start. At 100 none did, and throughput
 * and CPU per scenario did not move (reads still happen only when a task is written). The
 * cluster shape and deploy/ set the same.
 */
export const DEV_SERVER_DYNAMIC_CONFIG = { 'history.transferProcessorMaxPollRPS': 100 };

/** The dynamic config alone: the tests' in-memory dev server (test/support/stack.ts) runs it too. */
export function dynamicConfigFlags(): string[] {
  return Object.entries(DEV_SERVER_DYNAMIC_CONFIG).flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${value}`]);
}

/** `pragmas` replaces the default ones (the bench's BENCH_SQLITE_PRAGMAS diagnostic). */
export function devServerFlags(pragmas: string[] = DEV_SERVER_SQLITE_PRAGMAS): string[] {
  return [
    ...pragmas.flatMap((p) => ['--sqlite-pragma', p]),
    ...dynamicConfigFlags(),
    ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href && process.argv.includes('--flags')) {
  console.log(devServerFlags().join(' '));
}
