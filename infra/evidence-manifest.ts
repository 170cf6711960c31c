// The evidence manifest: every file of an evidence folder with its sha256 and size, in canonical
// JSON, so one digest (the manifest's) binds the whole bundle.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { canonicalJson } from '../lib/canonical-json.ts';
import { sha256Hex } from './sha256.ts';
import { describeKind, readRegularFile, walkTree } from './untrusted-files.ts';

export const MANIFEST_FILE = 'manifest.json';

export interface ManifestEntry { path: string; sha256: string; size: number }
export interface EvidenceManifest { files: ManifestEntry[] }

function walk(dir: string): string[] {
  const out: string[] = [];
  // Dirent types save a stat per file (a sixth of `arbiter verify`'s file-system time); only a
  // symbolic link needs one, to be followed as before.
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    const isDir = entry.isSymbolicLink() ? statSync(full).isDirectory() : entry.isDirectory();
    if (isDir) out.push(...walk(full));
    else out.push(full);
  }
  return out;
}

export function buildManifest(evidenceDir: string): EvidenceManifest {
  const files = walk(evidenceDir)
    .map((full) => relative(evidenceDir, full).split(sep).join('/'))
    .filter((p) => p !== MANIFEST_FILE)
    .sort()
    .map((path) => {
      const bytes = readFileSync(join(evidenceDir, path));
      return { path, sha256: sha256Hex(bytes), size: bytes.length };
    });
  return { files };
}

export function manifestBytes(manifest: EvidenceManifest): Buffer {
  return Buffer.from(canonicalJson(manifest), 'utf8');
}

export interface ManifestCheckOptions {
  /** false: compare the listing only (a manifest no signature vouches for has no sizes to trust) */
  readContents: boolean;
  maxFileBytes: number;
  maxEntries: number;
  maxDepth: number;
}

/**
 * Names every file whose bytes differ from the manifest, every file missing or extra, and every
 * entry that is not a plain file or folder (links are never followed). A file is read only when
 * its size on disk is the one the manifest lists, so a planted sparse giant costs one fstat.
 */
export async function checkManifest(evidenceDir: string, manifest: EvidenceManifest, options: ManifestCheckOptions): Promise<string[]> {
  const problems: string[] = [];
  const tree = await walkTree(evidenceDir, { maxEntries: options.maxEntries, maxDepth: options.maxDepth });
  if (tree.problem) problems.push(`evidence folder: ${tree.problem}`);
  const files = new Set<string>();
  // A folder holding no listed file is something the signer never saw (an empty one included).
  const listedFolders = new Set(manifest.files.flatMap((f) => f.path.split('/').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('/'))));
  for (const e of tree.entries) {
    if (e.kind === 'file') files.add(e.path);
    else if (e.kind !== 'directory') problems.push(`evidence/${e.path} is ${describeKind(e.kind)}, not a regular file`);
    else if (options.readContents && !listedFolders.has(e.path)) problems.push(`evidence folder ${e.path} is not in the manifest`);
  }
  const listed = new Set<string>();
  for (const f of manifest.files) {
    listed.add(f.path);
    if (!files.has(f.path)) {
      if (!tree.entries.some((e) => e.path === f.path)) problems.push(`evidence file ${f.path} is missing`);
      continue;
    }
    if (!options.readContents) continue;
    const r = await readRegularFile(join(evidenceDir, f.path), `evidence/${f.path}`, { maxBytes: options.maxFileBytes, expectedSize: f.size });
    if (!r.ok) problems.push(r.problem);
    else if (sha256Hex(r.bytes) !== f.sha256) problems.push(`evidence file ${f.path} does not match its digest`);
  }
  for (const path of files) if (path !== MANIFEST_FILE && !listed.has(path)) problems.push(`evidence file ${path} is not in the manifest`);
  return problems;
}
