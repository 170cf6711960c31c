// Reading a folder that someone else handed over (a results folder to verify): only regular files
// and directories, never through a link, never more bytes than the caller allows. Anything else is
// an answer naming the path, not an exception and not a hang: a FIFO or a device would block or
// stream forever, a link would take the reader outside the folder, a sparse file claims gigabytes.
//
// Synchronous calls on purpose: a verify of thousands of small folders spends its time in file
// system round trips, and the promise API costs a thread-pool hop per call (about 10× slower,
// bench/verdicts.ts). Nothing here can block: O_NONBLOCK opens a FIFO without waiting and every
// read is bounded, and the caller yields between folders so SIGINT/SIGTERM are still handled.
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';

/** What a path is, from lstat (or a descriptor's fstat): links are never resolved. */
export type EntryKind = 'file' | 'directory' | 'symbolic link' | 'FIFO' | 'socket' | 'character device' | 'block device' | 'unknown';

export type ReadAnswer =
  | { ok: true; bytes: Buffer }
  | { ok: false; problem: string };

interface KindOf { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }

export function kindOf(s: KindOf): EntryKind {
  if (s.isFile()) return 'file';
  if (s.isDirectory()) return 'directory';
  if (s.isSymbolicLink()) return 'symbolic link';
  if (s.isFIFO()) return 'FIFO';
  if (s.isSocket()) return 'socket';
  if (s.isCharacterDevice()) return 'character device';
  if (s.isBlockDevice()) return 'block device';
  return 'unknown';
}

/** "a FIFO", "an unknown entry": for messages that name what was found instead of a file. */
export function describeKind(kind: EntryKind): string {
  return kind === 'unknown' ? 'an entry of unknown type' : `a ${kind}`;
}

function errorProblem(name: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return `${name} is missing`;
  // O_NOFOLLOW on a link answers ELOOP: the link was swapped in after it was listed.
  if (code === 'ELOOP') return `${name} is a symbolic link (never followed)`;
  return `${name} cannot be read (${code ?? (err as Error).message})`;
}

/**
 * The bytes of `path` if it is a regular file no larger than `maxBytes` (and exactly
 * `expectedSize` when given). The size comes from the open descriptor before any byte is read,
 * so a huge or sparse file costs one fstat. O_NONBLOCK: opening a FIFO that replaced the file
 * after it was listed returns at once, and fstat then refuses it.
 */
export async function readRegularFile(path: string, name: string, limits: { maxBytes: number; expectedSize?: number }): Promise<ReadAnswer> {
  return readRegularFileSync(path, name, limits);
}

/** readRegularFile for a caller that must answer synchronously (lib/transcript.ts's reader). */
export function readRegularFileSync(path: string, name: string, limits: { maxBytes: number; expectedSize?: number }): ReadAnswer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    return { ok: false, problem: errorProblem(name, err) };
  }
  try {
    const stat = fstatSync(fd);
    const kind = kindOf(stat);
    if (kind !== 'file') return { ok: false, problem: `${name} is ${describeKind(kind)}, not a regular file` };
    if (limits.expectedSize !== undefined && stat.size !== limits.expectedSize) {
      return { ok: false, problem: `${name} is ${stat.size} bytes, the signed manifest says ${limits.expectedSize}` };
    }
    if (stat.size > limits.maxBytes) return { ok: false, problem: `${name} is ${stat.size} bytes, more than the ${limits.maxBytes} allowed` };
    // One byte more than the limit: a file that grows while it is read is caught too.
    const buffer = Buffer.allocUnsafe(Math.min(stat.size, limits.maxBytes) + 1);
    let length = 0;
    for (;;) {
      const bytesRead = readSync(fd, buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length === buffer.length) return { ok: false, problem: `${name} changed size while it was read` };
    }
    return { ok: true, bytes: buffer.subarray(0, length) };
  } catch (err) {
    return { ok: false, problem: errorProblem(name, err) };
  } finally {
    closeSync(fd);
  }
}

/** What lstat says `path` is, or the problem naming it. */
export async function entryKind(path: string, name: string): Promise<{ ok: true; kind: EntryKind } | { ok: false; problem: string }> {
  try {
    return { ok: true, kind: kindOf(lstatSync(path)) };
  } catch (err) {
    return { ok: false, problem: errorProblem(name, err) };
  }
}

export interface TreeEntry { path: string; kind: EntryKind }

/** The entries of one folder, not descending into any of them. */
export async function listFolder(dir: string, maxEntries: number): Promise<{ entries: TreeEntry[]; problem?: string }> {
  return walkTree(dir, { maxEntries, maxDepth: 0 }, false);
}

/**
 * Every entry under `dir` (paths relative to it, "/"-separated), from directory entry types
 * alone: a link is reported as a link, never followed, so a loop cannot recurse. `limits` bound
 * the walk over a folder built to exhaust it.
 */
export async function walkTree(dir: string, limits: { maxEntries: number; maxDepth: number }, descend = true): Promise<{ entries: TreeEntry[]; problem?: string }> {
  const entries: TreeEntry[] = [];
  const visit = async (rel: string, depth: number): Promise<string | undefined> => {
    if (depth > limits.maxDepth) return `${rel} is nested more than ${limits.maxDepth} folders deep`;
    let listed;
    try {
      listed = readdirSync(rel ? join(dir, rel) : dir, { withFileTypes: true });
    } catch (err) {
      return errorProblem(rel || '.', err);
    }
    for (const d of listed.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const path = rel ? `${rel}/${d.name}` : d.name;
      // Some file systems leave the type out of directory entries: then lstat says it.
      let kind = kindOf(d);
      if (kind === 'unknown') {
        const k = await entryKind(join(dir, path), path);
        if (!k.ok) return k.problem;
        kind = k.kind;
      }
      entries.push({ path, kind });
      if (entries.length > limits.maxEntries) return `more than ${limits.maxEntries} entries`;
      if (kind === 'directory' && descend) {
        const problem = await visit(path, depth + 1);
        if (problem) return problem;
      }
    }
    return undefined;
  };
  const problem = await visit('', 0);
  return problem ? { entries, problem } : { entries };
}
