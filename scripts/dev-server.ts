// The flags every `temporal server start-dev` of Arbiter gets (the stack, the bench, the tests), so
// they run the same server: its SQLite file in write-ahead-log mode with a sync at each commit,
// and Arbiter's search attributes.
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

/** `pragmas` replaces the default ones (the bench's BENCH_SQLITE_PRAGMAS diagnostic). */
export function devServerFlags(pragmas: string[] = DEV_SERVER_SQLITE_PRAGMAS): string[] {
  return [
    ...pragmas.flatMap((p) => ['--sqlite-pragma', p]),
    ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href && process.argv.includes('--flags')) {
  console.log(devServerFlags().join(' '));
}
