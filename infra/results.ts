// The layout of one scenario's results folder (CONTRACT.md "Artifacts") and its offline check:
// everything `arbiter verify` needs is in the folder plus public keys obtained elsewhere. The
// folder is untrusted: it is read through infra/untrusted-files.ts (regular files only, no links,
// bounded sizes), and every problem is an answer naming the path, never an exception.
import { join } from 'node:path';
import { sha256Hex } from './sha256.ts';
import { serializeChain, verifyChainText, type AuditEntry } from '../lib/audit-chain.ts';
import { checkManifest, MANIFEST_FILE, type EvidenceManifest } from './evidence-manifest.ts';
import type { Jwks } from './keys.ts';
import { ACCESS_DIR, referencedFiles, TRANSCRIPT_FILE, verifyTranscript } from '../lib/transcript.ts';
import { describeKind, entryKind, listFolder, readRegularFile, readRegularFileSync, walkTree } from './untrusted-files.ts';
import { verifyEnvelope, type DsseEnvelope, type Statement } from './verdict.ts';

export const RESULTS = {
  score: 'score.json',
  evidenceDir: 'evidence',
  audit: 'audit.jsonl',
  verdict: 'verdict.json',
  envelope: 'verdict.dsse.json',
} as const;

/**
 * The most any one artifact may weigh before it is read. The workflow writes far less (a score
 * and a statement of a few KiB, an audit log of a few dozen entries); the caps only keep a
 * forged folder from making the verifier read gigabytes.
 */
export const RESULTS_LIMITS = {
  smallFileBytes: 1024 * 1024,
  auditBytes: 64 * 1024 * 1024,
  manifestBytes: 64 * 1024 * 1024,
  transcriptBytes: 64 * 1024 * 1024,
  evidenceFileBytes: 256 * 1024 * 1024,
  evidenceEntries: 100_000,
  evidenceDepth: 32,
} as const;

export function scenarioDir(storageDir: string, scenarioId: string): string {
  return join(storageDir, 'scenarios', scenarioId);
}
export function resultsDir(storageDir: string, scenarioId: string): string {
  return join(scenarioDir(storageDir, scenarioId), 'results');
}

/** The same places as artifact store keys (infra/artifact-store.ts): relative, '/'-separated. */
export const resultsKey = (scenarioId: string, name?: string): string => `scenarios/${scenarioId}/results${name ? `/${name}` : ''}`;

export type ResultsCheck =
  | {
    ok: true;
    statement: Statement;
    keyId: string;
    /** chained audit entries after the head the verdict signed: no signature covers them */
    unsignedAuditEntries: AuditEntry[];
    /** present when the evidence holds a transcript of subject access (CONTRACT "Subject access") */
    transcript?: { entries: number };
  }
  | { ok: false; problems: string[] };

/** The one line a verifier prints about audit entries the signature does not cover. */
export function unsignedAuditWarning(entries: readonly AuditEntry[]): string {
  // Hashed correctly is not the same as well-formed: String() of {"toString":1} throws.
  const text = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v) ?? typeof v);
  const listed = entries.map((e) => `#${e.seq} ${text(e.event)} by ${text(e.actor)}`).join(', ');
  return `${RESULTS.audit} has ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'} after the signed head, NOT covered by the signature: ${listed}`;
}

export async function verifyResults(dir: string, jwks: Jwks): Promise<ResultsCheck> {
  try {
    return await checkFolder(dir, jwks);
  } catch (err) {
    // Every expected failure is already an answer; this keeps one odd folder from ending a
    // many-folder run.
    return { ok: false, problems: [`${dir} could not be checked: ${(err as Error).message}`] };
  }
}

const EXPECTED = new Set<string>(Object.values(RESULTS));

async function checkFolder(dir: string, jwks: Jwks): Promise<ResultsCheck> {
  const problems: string[] = [];
  const top = await entryKind(dir, dir);
  if (!top.ok) return { ok: false, problems: [top.problem] };
  if (top.kind !== 'directory') return { ok: false, problems: [`${dir} is ${describeKind(top.kind)}, not a results folder`] };

  // Only what the workflow writes: anything else (a planted key file, a leftover .tmp of an
  // interrupted write) is named, so a folder that verifies is exactly what was signed.
  const listing = await listFolder(dir, 64);
  for (const e of listing.entries) {
    if (!EXPECTED.has(e.path)) problems.push(`${e.path} is not part of a verdict (unexpected ${e.kind})`);
  }
  if (listing.problem) problems.push(listing.problem);

  const read = async (name: string, maxBytes: number): Promise<Buffer | undefined> => {
    const r = await readRegularFile(join(dir, name), name, { maxBytes });
    if (r.ok) return r.bytes;
    problems.push(r.problem);
    return undefined;
  };

  const envelopeBytes = await read(RESULTS.envelope, RESULTS_LIMITS.smallFileBytes);
  if (!envelopeBytes) return { ok: false, problems };
  let envelope: DsseEnvelope;
  try {
    envelope = JSON.parse(envelopeBytes.toString('utf8')) as DsseEnvelope;
  } catch {
    return { ok: false, problems: [...problems, `${RESULTS.envelope} is not JSON`] };
  }
  // Only the payload is signed, so the file around it must be exactly what the signer wrote
  // (activities/sign-verdict.ts): lenient base64 or JSON whitespace would let its bytes change freely.
  if (JSON.stringify(envelope, null, 2) !== envelopeBytes.toString('utf8') || (typeof envelope?.payload === 'string' && Buffer.from(envelope.payload, 'base64').toString('base64') !== envelope.payload)) {
    problems.push(`${RESULTS.envelope} is not in the form Arbiter writes (reformatted or re-encoded after signing)`);
  }
  const sig = await verifyEnvelope(envelope, jwks);
  if (!sig.ok) return { ok: false, problems: [...problems, `signature: ${sig.reason}`] };
  const { statement } = sig;

  // verdict.json is what people read: it must be the very bytes that were signed.
  const verdict = await read(RESULTS.verdict, RESULTS_LIMITS.smallFileBytes);
  if (verdict && !verdict.equals(Buffer.from(envelope.payload, 'base64'))) {
    problems.push(`${RESULTS.verdict} is not the signed statement (it was edited: trust only what the signature covers)`);
  }

  const digestOf = (name: string) => statement.subject.find((s) => s.name === name)?.digest.sha256;
  const score = await read(RESULTS.score, RESULTS_LIMITS.smallFileBytes);
  if (score && sha256Hex(score) !== digestOf(RESULTS.score)) problems.push(`${RESULTS.score} does not match the signed digest`);

  const transcript = await checkEvidence(dir, digestOf, problems, read);

  let unsignedAuditEntries: AuditEntry[] = [];
  const audit = await read(RESULTS.audit, RESULTS_LIMITS.auditBytes);
  if (audit) {
    const chain = verifyChainText(audit.toString('utf8'), statement.predicate.auditHead);
    if (!chain.ok) problems.push(`${RESULTS.audit}: audit chain broken: ${chain.reason}`);
    else {
      unsignedAuditEntries = chain.afterHead ?? [];
      // Each hash covers an entry's canonical JSON, not its line: the lines must be that form.
      const entries = audit.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEntry);
      if (serializeChain(entries) !== audit.toString('utf8')) problems.push(`${RESULTS.audit} is not in canonical form (one canonical JSON entry per line): it was reformatted`);
    }
  }
  if (problems.length) return { ok: false, problems };
  return { ok: true, statement, keyId: sig.keyId, unsignedAuditEntries, ...(transcript ? { transcript } : {}) };
}

async function checkEvidence(
  dir: string,
  digestOf: (name: string) => string | undefined,
  problems: string[],
  read: (name: string, maxBytes: number) => Promise<Buffer | undefined>,
): Promise<{ entries: number } | undefined> {
  const evidence = await entryKind(join(dir, RESULTS.evidenceDir), RESULTS.evidenceDir);
  if (!evidence.ok) return void problems.push(evidence.problem);
  if (evidence.kind !== 'directory') return void problems.push(`${RESULTS.evidenceDir} is ${describeKind(evidence.kind)}, not a folder`);
  const manifestName = `${RESULTS.evidenceDir}/${MANIFEST_FILE}`;
  const manifestBytes = await read(manifestName, RESULTS_LIMITS.manifestBytes);
  let manifest: EvidenceManifest | undefined;
  if (manifestBytes) {
    if (sha256Hex(manifestBytes) !== digestOf(manifestName)) problems.push(`${manifestName} does not match the signed digest`);
    else {
      try {
        manifest = JSON.parse(manifestBytes.toString('utf8')) as EvidenceManifest;
      } catch {
        problems.push(`${manifestName} is not JSON`);
      }
      const valid = manifest !== null && typeof manifest === 'object' && Array.isArray(manifest.files)
        && manifest.files.every((f) => f && typeof f.path === 'string' && typeof f.sha256 === 'string' && typeof f.size === 'number');
      if (manifest !== undefined && !valid) {
        problems.push(`${manifestName} does not list files with path, sha256 and size`);
        manifest = undefined;
      }
    }
  }
  // Without a manifest the signature vouches for, its sizes mean nothing: the folder is still
  // walked, so anything that is not a plain file is named, but no evidence byte is read.
  const found = await checkManifest(join(dir, RESULTS.evidenceDir), manifest ?? { files: [] }, {
    readContents: manifest !== undefined,
    maxFileBytes: RESULTS_LIMITS.evidenceFileBytes,
    maxEntries: RESULTS_LIMITS.evidenceEntries,
    maxDepth: RESULTS_LIMITS.evidenceDepth,
  });
  problems.push(...(manifest ? found : found.filter((p) => !/is not in the manifest$/.test(p))));
  // The same rule as above: no evidence byte is read unless the signature vouches for the manifest.
  if (manifest) return checkTranscript(join(dir, RESULTS.evidenceDir), problems, read);
  return undefined;
}

/**
 * The transcript's own checks, after the manifest's: the manifest says a recording changed, the
 * transcript says which interaction it recorded (and a dropped entry, which leaves every
 * remaining file intact, is caught only here). Files under access/ must each belong to an entry.
 */
async function checkTranscript(
  evidenceDir: string,
  problems: string[],
  read: (name: string, maxBytes: number) => Promise<Buffer | undefined>,
): Promise<{ entries: number } | undefined> {
  const transcriptName = `${RESULTS.evidenceDir}/${TRANSCRIPT_FILE}`;
  const accessName = `${RESULTS.evidenceDir}/${ACCESS_DIR}`;
  const transcriptKind = await entryKind(join(evidenceDir, TRANSCRIPT_FILE), transcriptName);
  const accessKind = await entryKind(join(evidenceDir, ACCESS_DIR), accessName);
  if (!transcriptKind.ok) {
    // Recordings no entry describes cannot be told apart from planted files.
    if (accessKind.ok) problems.push(`${accessName}/ holds recordings but there is no ${transcriptName} to describe them`);
    return undefined;
  }
  const bytes = await read(transcriptName, RESULTS_LIMITS.transcriptBytes);
  if (!bytes) return undefined;
  const text = bytes.toString('utf8');
  // Each entry's hash covers decoded text: bytes that are not UTF-8 would decode the same as others.
  if (!Buffer.from(text, 'utf8').equals(bytes)) return void problems.push(`${transcriptName} is not UTF-8`);

  const readStored = (path: string): Uint8Array | string => {
    const r = readRegularFileSync(join(evidenceDir, path), 'the file', { maxBytes: RESULTS_LIMITS.evidenceFileBytes });
    return r.ok ? r.bytes : r.problem;
  };
  const check = verifyTranscript(text, readStored, sha256Hex);
  if (!check.ok) problems.push(...check.problems.map((p) => `${RESULTS.evidenceDir}/${p}`));

  // Parsed again, leniently: after a broken chain the entries that remain still say which
  // recordings they own, so a dropped entry's recording is named as nobody's.
  const entries = parseLines(text);
  const chainHeld = check.ok || !check.problems.some((p) => p.startsWith(`${TRANSCRIPT_FILE}: chain broken`));
  if (chainHeld) {
    let canonical: string | undefined;
    try {
      canonical = serializeChain(entries);
    } catch {
      canonical = undefined;
    }
    if (canonical !== text) problems.push(`${transcriptName} is not in canonical form (one canonical JSON entry per line): it was reformatted`);
  }
  if (accessKind.ok && accessKind.kind === 'directory') {
    const owned = new Set(referencedFiles(entries));
    const tree = await walkTree(join(evidenceDir, ACCESS_DIR), { maxEntries: RESULTS_LIMITS.evidenceEntries, maxDepth: RESULTS_LIMITS.evidenceDepth });
    // Links, FIFOs and a walk past its bounds were already named by the manifest check.
    for (const e of tree.entries) {
      if (e.kind === 'file' && !owned.has(`${ACCESS_DIR}/${e.path}`)) problems.push(`${accessName}/${e.path} is not referenced by any ${TRANSCRIPT_FILE} entry`);
    }
  } else if (accessKind.ok) {
    problems.push(`${accessName} is ${describeKind(accessKind.kind)}, not a folder`);
  }
  return check.ok ? { entries: check.entries.length } : undefined;
}

/** The lines that are JSON objects; the others were named by the chain check. */
function parseLines(text: string): AuditEntry[] {
  const entries: AuditEntry[] = [];
  for (const line of text.split('\n').filter(Boolean)) {
    try {
      const v: unknown = JSON.parse(line);
      if (v && typeof v === 'object' && !Array.isArray(v)) entries.push(v as AuditEntry);
    } catch {
      // a line that is not JSON owns no recording; the chain check already named it
    }
  }
  return entries;
}
