// The fingerprint of a completion: what the scenario workflow keeps to tell an identical resend
// (answered the same way) from a different completion (refused), and what the API keys the
// update id on. It is a digest, not the completion: the submission itself lives only in the
// evidence (submission.json), never in the memo, search attributes or audit. Pure JavaScript
// (canonicalize, @noble/hashes) because the workflow sandbox has no node:crypto.
import canonicalize from 'canonicalize';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';

export interface CompletionBody { outcome: string; submission: unknown }

/** sha256 (hex) of the RFC 8785 canonical form of `{outcome, submission}`. */
export function completionDigest(req: CompletionBody): string {
  const canonical = canonicalize({ outcome: req.outcome, submission: req.submission });
  // Unreachable through the API and the validator (both refuse non-finite numbers first).
  if (typeof canonical !== 'string') throw new TypeError('the completion has no canonical JSON form');
  return bytesToHex(sha256(utf8ToBytes(canonical)));
}

/**
 * The form scenarios started before the digest kept (the whole completion as sorted JSON).
 * Their recorded state still holds it, so a resend to such a scenario is compared this way.
 */
export function legacyCompletionForm(req: CompletionBody): string {
  return JSON.stringify([req.outcome, sortKeys(req.submission)]);
}

/** Whether `recorded` (either form) fingerprints this completion. */
export function isSameCompletion(recorded: string, req: CompletionBody): boolean {
  return /^[0-9a-f]{64}$/.test(recorded) ? recorded === completionDigest(req) : recorded === legacyCompletionForm(req);
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  }
  return v;
}
