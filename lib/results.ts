// The layout of one scenario's results folder (CONTRACT.md "Artifacts") and its offline check:
// everything `arbiter verify` needs is in the folder plus the published public keys.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256Hex } from './canonical-json.ts';
import { verifyChainText } from './audit-chain.ts';
import { checkManifest, MANIFEST_FILE, type EvidenceManifest } from './evidence-manifest.ts';
import type { Jwks } from './keys.ts';
import { verifyEnvelope, type DsseEnvelope, type Statement } from './verdict.ts';

export const RESULTS = {
  score: 'score.json',
  evidenceDir: 'evidence',
  audit: 'audit.jsonl',
  verdict: 'verdict.json',
  envelope: 'verdict.dsse.json',
} as const;

export function scenarioDir(storageDir: string, scenarioId: string): string {
  return join(storageDir, 'scenarios', scenarioId);
}
export function resultsDir(storageDir: string, scenarioId: string): string {
  return join(scenarioDir(storageDir, scenarioId), 'results');
}

export type ResultsCheck = { ok: true; statement: Statement; keyId: string } | { ok: false; problems: string[] };

export async function verifyResults(dir: string, jwks: Jwks): Promise<ResultsCheck> {
  const problems: string[] = [];
  const read = (name: string): Buffer | undefined => {
    // One open per file, no separate existence check: ENOENT (or ENOTDIR) is the "missing" answer.
    try {
      return readFileSync(join(dir, name));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
      problems.push(`${name} is missing`);
      return undefined;
    }
  };
  const envelopeBytes = read(RESULTS.envelope);
  if (!envelopeBytes) return { ok: false, problems };
  let envelope: DsseEnvelope;
  try {
    envelope = JSON.parse(envelopeBytes.toString('utf8')) as DsseEnvelope;
  } catch {
    return { ok: false, problems: [`${RESULTS.envelope} is not JSON`] };
  }
  const sig = await verifyEnvelope(envelope, jwks);
  if (!sig.ok) return { ok: false, problems: [`signature: ${sig.reason}`] };
  const { statement } = sig;

  const digestOf = (name: string) => statement.subject.find((s) => s.name === name)?.digest.sha256;
  const score = read(RESULTS.score);
  if (score && sha256Hex(score) !== digestOf('score.json')) problems.push('score.json does not match the signed digest');

  const manifestName = `${RESULTS.evidenceDir}/${MANIFEST_FILE}`;
  const manifestBytes = read(manifestName);
  if (manifestBytes) {
    if (sha256Hex(manifestBytes) !== digestOf(manifestName)) problems.push(`${manifestName} does not match the signed digest`);
    let manifest: EvidenceManifest | undefined;
    try {
      manifest = JSON.parse(manifestBytes.toString('utf8')) as EvidenceManifest;
    } catch {
      problems.push(`${manifestName} is not JSON`);
    }
    if (manifest !== undefined) {
      const valid = manifest !== null && typeof manifest === 'object' && Array.isArray(manifest.files)
        && manifest.files.every((f) => f && typeof f.path === 'string' && typeof f.sha256 === 'string' && typeof f.size === 'number');
      if (valid) problems.push(...checkManifest(join(dir, RESULTS.evidenceDir), manifest));
      else problems.push(`${manifestName} does not list files with path, sha256 and size`);
    }
  }

  const audit = read(RESULTS.audit);
  if (audit) {
    const chain = verifyChainText(audit.toString('utf8'), statement.predicate.auditHead);
    if (!chain.ok) problems.push(`audit chain: ${chain.reason}`);
  }
  return problems.length ? { ok: false, problems } : { ok: true, statement, keyId: sig.keyId };
}
