// Verdict verification for the browser verifier page (and anything else without Node): the same
// checks as infra/verdict.ts and infra/keys.ts, in the same order, with no Buffer, no node:crypto and
// no WebCrypto (which a page served over plain http, outside localhost, does not get). Ed25519 is
// @noble/ed25519 with strict RFC 8032 verification (zip215: false), exactly as `arbiter verify`;
// SHA-2 is @noble/hashes. Each check says what it established or, when it fails, what broke.
import * as ed from '@noble/ed25519';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import canonicalize from 'canonicalize';

ed.hashes.sha512 = sha512;

import { serializeChain, type AuditEntry } from '../../lib/audit-chain.ts';
import { ACCESS_DIR, referencedFiles, TRANSCRIPT_FILE, verifyTranscript } from '../../lib/transcript.ts';
import { pae, PAYLOAD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE, type VerdictPredicate } from '../../lib/verdict-format.ts';

export { pae, PAYLOAD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE };

export type CheckId = 'envelope' | 'keys' | 'key' | 'signature' | 'statement' | 'keyBinding' | 'transcript' | `artifact:${string}`;
/** `warn`: the check held, but something beside it is not covered by the signature. */
export interface Check { id: CheckId; label: string; state: 'pass' | 'warn' | 'fail' | 'skip'; detail: string }

/** What a verdict binds: the signed predicate. */
export type VerdictClaims = VerdictPredicate;

export interface VerifyReport {
  valid: boolean;
  checks: Check[];
  /** the first check that failed: what a tampered verdict is reported by */
  failed?: Check;
  keyId?: string;
  /** what the payload says; trustworthy only when `valid` */
  claims?: VerdictClaims;
  subjects?: Array<{ name: string; sha256: string }>;
  /** where the JWKS came from, as the page shows it: never from among the artifacts */
  keySource: string;
  /** the transcript of subject access, when it was among the artifacts; trustworthy only when `valid` */
  transcript?: { entries: TranscriptRow[]; failing: number[] };
}

/** One line of evidence/transcript.jsonl, as the page lists it. */
export interface TranscriptRow { line: number; seq: string; event: string; actor: string; what: string; exitCode: string }

export interface VerifyOptions {
  /** how the user supplied the JWKS: "fetched from <url>", "file <name>", "pasted" */
  keySource?: string;
}

const LABELS: Record<string, string> = {
  envelope: 'DSSE envelope is well-formed',
  keys: 'JWKS holds Ed25519 keys named by their RFC 7638 thumbprints',
  key: 'signed by a key in the JWKS',
  signature: 'Ed25519 signature over the DSSE pre-authentication encoding verifies (strict RFC 8032)',
  statement: "payload is an in-toto Statement v1 carrying Arbiter's verdict predicate",
  keyBinding: 'the statement names the key that signed it',
  transcript: 'evidence/transcript.jsonl is a hash chain and every recording matches its digest',
};

const utf8 = new TextEncoder();
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** Standard or URL-safe base64 (DSSE allows both), padded or not; undefined when malformed. */
export function decodeBase64(s: string): Uint8Array | undefined {
  const std = s.replace(/-/g, '+').replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(std) || std.replace(/=+$/, '').length % 4 === 1) return undefined;
  try {
    return Uint8Array.from(atob(std.padEnd(Math.ceil(std.length / 4) * 4, '=')), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

function base64url(b: Uint8Array): string {
  return btoa(String.fromCharCode(...b)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** RFC 7638 thumbprint of an OKP key: SHA-256 over its required members in lexicographic order. */
export function okpThumbprint(crv: string, x: string): string {
  return base64url(sha256(utf8.encode(JSON.stringify({ crv, kty: 'OKP', x }))));
}


export function sha256Hex(bytes: Uint8Array): string {
  return hex(sha256(bytes));
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isHex64 = (v: unknown) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);

function predicateProblem(p: unknown): string | undefined {
  if (!isObject(p)) return 'the predicate is not an object';
  for (const k of ['scenarioId', 'subject', 'tenant', 'plan', 'track', 'outcome', 'status', 'auditHead', 'issuedAt', 'keyId']) {
    if (typeof p[k] !== 'string') return `predicate.${k} is missing or not a string`;
  }
  const t = p.template, pol = p.policy, s = p.score;
  if (!isObject(t) || typeof t.id !== 'string' || typeof t.version !== 'string' || typeof t.digest !== 'string') return 'predicate.template lacks id, version or digest';
  if (!isObject(pol) || typeof pol.sha256 !== 'string' || typeof pol.allow !== 'boolean') return 'predicate.policy lacks sha256 or allow';
  if (!isObject(s) || typeof s.score !== 'number' || typeof s.maxScore !== 'number' || typeof s.passed !== 'boolean') return 'predicate.score lacks score, maxScore or passed';
  return undefined;
}

/**
 * Verifies a DSSE verdict envelope against a JWKS, both as text (what a page reads from a file,
 * a paste or a fetch). `artifacts` (file name → bytes), when given, are checked against the
 * statement's subject digests: score.json and evidence/manifest.json (or manifest.json); evidence
 * files (evidence/<path>, or their bare names when those are unambiguous) against the manifest;
 * evidence/transcript.jsonl's chain and recordings as `arbiter verify` checks them.
 */
export function verifyVerdict(envelopeText: string, jwksText: string, artifacts: Record<string, Uint8Array> = {}, options: VerifyOptions = {}): VerifyReport {
  const checks: Check[] = [];
  const report: VerifyReport = { valid: false, checks, keySource: options.keySource ?? 'pasted' };
  const pass = (id: CheckId, detail: string) => { checks.push({ id, label: LABELS[id] ?? id, state: 'pass', detail }); };
  const fail = (id: CheckId, detail: string) => {
    const c: Check = { id, label: LABELS[id] ?? id, state: 'fail', detail };
    checks.push(c);
    report.failed ??= c;
  };
  const skipRest = (ids: CheckId[], because: string) => { for (const id of ids) checks.push({ id, label: LABELS[id] ?? id, state: 'skip', detail: `not checked: ${because}` }); };

  // 1. The envelope.
  let envelope: { payloadType: string; payload: Uint8Array; signatures: Array<{ keyid: string; sig: Uint8Array }> } | undefined;
  let envelopeProblem: string | undefined;
  try {
    const raw: unknown = JSON.parse(envelopeText);
    if (!isObject(raw)) envelopeProblem = 'the envelope is not a JSON object';
    else if (raw.payloadType !== PAYLOAD_TYPE) envelopeProblem = `payloadType is ${JSON.stringify(raw.payloadType)}, not ${PAYLOAD_TYPE}`;
    else if (typeof raw.payload !== 'string' || !decodeBase64(raw.payload)) envelopeProblem = 'payload is missing or not base64';
    else if (!Array.isArray(raw.signatures) || raw.signatures.length === 0) envelopeProblem = 'there are no signatures';
    else {
      const signatures = (raw.signatures as unknown[]).flatMap((s) => {
        if (!isObject(s) || typeof s.keyid !== 'string' || typeof s.sig !== 'string') return [];
        const sig = decodeBase64(s.sig);
        return sig ? [{ keyid: s.keyid, sig }] : [];
      });
      if (signatures.length === 0) envelopeProblem = 'no signature has a keyid and a base64 sig';
      else envelope = { payloadType: raw.payloadType, payload: decodeBase64(raw.payload)!, signatures };
    }
  } catch {
    envelopeProblem = 'the envelope is not JSON';
  }
  if (!envelope) {
    fail('envelope', envelopeProblem ?? 'unreadable');
    skipRest(['keys', 'key', 'signature', 'statement', 'keyBinding'], 'no envelope');
    return report;
  }
  pass('envelope', `${envelope.signatures.length} signature(s), ${envelope.payload.length}-byte payload`);

  // Shown even when the signature fails, marked unverified by the page: it says what was claimed.
  let statement: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(envelope.payload));
    if (isObject(parsed)) statement = parsed;
  } catch {
    // reported by the statement check
  }
  if (statement && isObject(statement.predicate) && !predicateProblem(statement.predicate)) report.claims = statement.predicate as unknown as VerdictClaims;

  // 2. The keys.
  const keys = new Map<string, Uint8Array>();
  const rejected: string[] = [];
  let keysProblem: string | undefined;
  try {
    const jwks: unknown = JSON.parse(jwksText);
    if (!isObject(jwks) || !Array.isArray(jwks.keys)) keysProblem = 'the JWKS is not an object with a "keys" array';
    else {
      for (const k of jwks.keys as unknown[]) {
        if (!isObject(k)) continue;
        const kid = String(k.kid);
        if (k.kty !== 'OKP' || k.crv !== 'Ed25519' || typeof k.x !== 'string') { rejected.push(`${kid} (not an OKP Ed25519 key)`); continue; }
        const x = decodeBase64(k.x);
        if (!x || x.length !== 32) { rejected.push(`${kid} (x is not 32 bytes)`); continue; }
        if (okpThumbprint('Ed25519', k.x) !== k.kid) { rejected.push(`${kid} (kid is not the key's thumbprint)`); continue; }
        keys.set(k.kid, x);
      }
      if (keys.size === 0) keysProblem = `no usable key${rejected.length ? `: ${rejected.join('; ')}` : ''}`;
    }
  } catch {
    keysProblem = 'the JWKS is not JSON';
  }
  if (keysProblem) {
    fail('keys', keysProblem);
    skipRest(['key', 'signature'], 'no usable keys');
  } else {
    pass('keys', `${keys.size} key(s) ${report.keySource}${rejected.length ? `; ignored ${rejected.join('; ')}` : ''}`);

    // 3. A signature by a known key, 4. that verifies.
    const known = envelope.signatures.filter((s) => keys.has(s.keyid));
    if (known.length === 0) {
      fail('key', `signed by ${envelope.signatures.map((s) => s.keyid).join(', ')}; the JWKS has ${[...keys.keys()].join(', ')}`);
      skipRest(['signature'], 'no signature by a known key');
    } else {
      pass('key', known.map((s) => s.keyid).join(', '));
      const message = pae(envelope.payloadType, envelope.payload);
      const good = known.find((s) => {
        try {
          return ed.verify(s.sig, message, keys.get(s.keyid)!, { zip215: false });
        } catch {
          return false;
        }
      });
      if (good) {
        report.keyId = good.keyid;
        pass('signature', `valid signature by ${good.keyid}`);
      } else {
        fail('signature', `the signature by ${known.map((s) => s.keyid).join(', ')} does not verify: the payload, its type or the signature was changed after signing`);
      }
    }
  }

  // 5. The statement.
  let subjects: Array<{ name: string; sha256: string }> | undefined;
  if (!statement) fail('statement', 'the payload is not a JSON object');
  else if (statement._type !== STATEMENT_TYPE) fail('statement', `_type is ${JSON.stringify(statement._type)}`);
  else if (statement.predicateType !== PREDICATE_TYPE) fail('statement', `predicateType is ${JSON.stringify(statement.predicateType)}`);
  else if (!Array.isArray(statement.subject) || !statement.subject.every((s) => isObject(s) && typeof s.name === 'string' && isObject(s.digest) && isHex64(s.digest.sha256))) {
    fail('statement', 'the subjects are not a list of names with sha256 digests');
  } else {
    subjects = (statement.subject as Array<{ name: string; digest: { sha256: string } }>).map((s) => ({ name: s.name, sha256: s.digest.sha256 }));
    const missing = ['score.json', 'evidence/manifest.json'].filter((n) => !subjects!.some((s) => s.name === n));
    const problem = missing.length ? `no subject digest for ${missing.join(' and ')}` : predicateProblem(statement.predicate);
    if (problem) fail('statement', problem);
    else pass('statement', subjects.map((s) => `${s.name} sha256:${s.sha256.slice(0, 12)}…`).join(', '));
  }
  report.subjects = subjects;

  // 6. The signer named inside the signed bytes.
  if (!report.claims || !report.keyId) skipRest(['keyBinding'], 'no verified statement');
  else if (report.claims.keyId === report.keyId) pass('keyBinding', report.keyId);
  else fail('keyBinding', `the statement names ${report.claims.keyId}, but ${report.keyId} signed it`);

  // 7. Any artifacts the user gave: the subjects against their digests, verdict.json against the
  // signed payload byte for byte, audit.jsonl's chain up to the signed head. Nothing among them is
  // ever used as a key: the keys come from section 2 only.
  // The manifest first: the evidence files among the artifacts are checked against it.
  const given = new Map(Object.entries(artifacts).map(([name, bytes]) => [artifactName(name), bytes]));
  const manifestBytes = given.get(MANIFEST);
  const manifestSubject = subjects?.find((s) => s.name === MANIFEST);
  const manifest = manifestBytes && manifestSubject && sha256Hex(manifestBytes) === manifestSubject.sha256 ? parseManifest(manifestBytes) : undefined;
  const evidencePath = (name: string): string | undefined => {
    if (!manifest) return undefined;
    if (name.startsWith('evidence/')) return manifest.has(name.slice('evidence/'.length)) ? name.slice('evidence/'.length) : undefined;
    if (manifest.has(name)) return name;
    // A file picked on its own has only its base name: enough when one listed file has it.
    const named = [...manifest.keys()].filter((p) => p.split('/').at(-1) === name);
    return named.length === 1 ? named[0] : undefined;
  };

  for (const [name, bytes] of given) {
    const id: CheckId = `artifact:${name}`;
    const push = (state: Check['state'], label: string, detail: string) => {
      const c: Check = { id, label, state, detail };
      checks.push(c);
      if (state === 'fail') report.failed ??= c;
    };
    if (name === 'verdict.json') {
      const label = 'verdict.json is the signed statement, byte for byte';
      if (!envelope || !report.keyId) push('skip', label, 'not checked: no verified signature');
      else if (bytesEqual(bytes, envelope.payload)) push('pass', label, `${bytes.length} bytes, identical to the signed payload`);
      else push('fail', label, 'verdict.json differs from the payload the signature covers: it was edited, trust only the signed statement');
      continue;
    }
    if (name === 'verdict.dsse.json') {
      // Present when a whole results folder was chosen: it must be the envelope checked above,
      // or the folder's artifacts are being checked against another verdict.
      const label = 'verdict.dsse.json is the envelope verified above';
      if (sameJson(bytes, envelopeText)) push('pass', label, 'the same envelope');
      else push('fail', label, 'verdict.dsse.json is not the envelope verified above: these artifacts belong to another verdict');
      continue;
    }
    if (name === 'audit.jsonl') {
      const label = 'audit.jsonl is a hash chain through the signed head';
      if (!report.claims || !report.keyId) { push('skip', label, 'not checked: no verified statement'); continue; }
      const chain = checkAuditChain(bytes, report.claims.auditHead);
      if (!chain.ok) push('fail', label, chain.reason);
      else if (chain.afterHead.length) push('warn', label, `${chain.length} entries; ${chain.afterHead.length} after the signed head are NOT covered by the signature: ${chain.afterHead.join(', ')}`);
      else push('pass', label, `${chain.length} entries, ending at the signed head`);
      continue;
    }
    const subject = subjects?.find((s) => s.name === name);
    const path = subject ? undefined : evidencePath(name);
    if (path !== undefined) {
      const listed = manifest!.get(path)!;
      const actual = sha256Hex(bytes);
      const evidenceId: CheckId = `artifact:evidence/${path}`;
      const c: Check = { id: evidenceId, label: `evidence/${path} matches the signed manifest`, state: 'pass', detail: `sha256:${actual}` };
      if (actual !== listed.sha256 || bytes.length !== listed.size) {
        c.state = 'fail';
        c.detail = `sha256 is ${actual} (${bytes.length} bytes), the signed manifest lists ${listed.sha256} (${listed.size} bytes): the file was changed`;
      }
      checks.push(c);
      if (c.state === 'fail') report.failed ??= c;
      continue;
    }
    const label = `${name} matches the signed digest`;
    if (!subjects) push('skip', label, 'not checked: no statement');
    else if (!subject) {
      const why = /jwks|keys/i.test(name) ? ' (keys are never taken from the artifacts: give them in "Public keys")'
        : manifest ? ' and not in its signed evidence manifest'
          : ` (evidence files are checked against ${MANIFEST}: give it too)`;
      push('fail', label, `${name} is not a subject of this verdict${why}`);
    }
    else {
      const actual = sha256Hex(bytes);
      if (actual === subject.sha256) push('pass', label, `sha256:${actual}`);
      else push('fail', label, `sha256 is ${actual}, the verdict signed ${subject.sha256}: the file was changed`);
    }
  }

  checkTranscriptArtifact(given, manifest, report);

  report.valid = checks.every((c) => c.state === 'pass' || c.state === 'warn');
  return report;
}

const MANIFEST = 'evidence/manifest.json';
const TRANSCRIPT = `evidence/${TRANSCRIPT_FILE}`;

/** The name an artifact is checked under: the two evidence files with fixed names may come bare. */
function artifactName(name: string): string {
  const n = name.replace(/^\.\//, '');
  if (n === 'manifest.json') return MANIFEST;
  if (n === TRANSCRIPT_FILE) return TRANSCRIPT;
  return n;
}

function parseManifest(bytes: Uint8Array): Map<string, { sha256: string; size: number }> | undefined {
  try {
    const m: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    if (!isObject(m) || !Array.isArray(m.files)) return undefined;
    const files = new Map<string, { sha256: string; size: number }>();
    for (const f of m.files as unknown[]) {
      if (!isObject(f) || typeof f.path !== 'string' || typeof f.sha256 !== 'string' || typeof f.size !== 'number') return undefined;
      files.set(f.path, { sha256: f.sha256, size: f.size });
    }
    return files;
  } catch {
    return undefined;
  }
}

/**
 * `arbiter verify`'s transcript checks (infra/results.ts) on the artifacts given: the chain, the
 * canonical form, every recording against its entry's digest, and recordings no entry owns. Its
 * bytes are bound to the verdict only through the manifest: without it the check can hold and
 * still prove nothing, which is a warning.
 */
function checkTranscriptArtifact(given: Map<string, Uint8Array>, manifest: Map<string, { sha256: string; size: number }> | undefined, report: VerifyReport): void {
  const bytes = given.get(TRANSCRIPT);
  const listsRecordings = manifest && [...manifest.keys()].some((p) => p.startsWith(`${ACCESS_DIR}/`));
  if (!bytes && !(listsRecordings && !manifest.has(TRANSCRIPT_FILE))) return;
  const push = (state: Check['state'], detail: string) => {
    const c: Check = { id: 'transcript', label: LABELS.transcript!, state, detail };
    report.checks.push(c);
    if (state === 'fail') report.failed ??= c;
  };
  if (!bytes) return push('fail', `the manifest lists recordings under ${ACCESS_DIR}/ but no ${TRANSCRIPT_FILE} describes them`);
  if (!report.claims || !report.keyId) return push('skip', 'not checked: no verified statement');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return push('fail', `${TRANSCRIPT} is not UTF-8`);
  }

  const recording = (path: string): Uint8Array | undefined => given.get(`evidence/${path}`) ?? given.get(path) ?? given.get(path.split('/').at(-1)!);
  const check = verifyTranscript(text, (path) => recording(path) ?? 'not among the artifacts (choose the whole results folder)', sha256Hex);
  const problems = check.ok ? [] : check.problems.map((p) => `evidence/${p}`);
  const entries = parseLines(text);
  if (check.ok) {
    let canonical: string | undefined;
    try {
      canonical = serializeChain(entries);
    } catch {
      canonical = undefined;
    }
    if (canonical !== text) problems.push(`${TRANSCRIPT} is not in canonical form (one canonical JSON entry per line): it was reformatted`);
  }
  const owned = new Set(referencedFiles(entries));
  const present = new Set([...(manifest?.keys() ?? [])].filter((p) => p.startsWith(`${ACCESS_DIR}/`)));
  for (const name of given.keys()) if (name.startsWith(`evidence/${ACCESS_DIR}/`)) present.add(name.slice('evidence/'.length));
  for (const path of present) if (!owned.has(path)) problems.push(`evidence/${path} is not referenced by any ${TRANSCRIPT_FILE} entry`);

  // The problems name entries by their line ("entry 3 (terminal): …", "chain broken: entry 2 …"):
  // the page marks those rows.
  const failing = [...new Set(problems.flatMap((p) => [...p.matchAll(/\bentry (\d+)\b/g)].map((m) => Number(m[1]))))];
  report.transcript = { entries: entries.map((e, line) => transcriptRow(e, line)), failing };
  const recordings = owned.size;
  if (problems.length) push('fail', problems.join('; '));
  else if (!manifest) push('warn', `${entries.length} entries, chain and ${recordings} recording(s) hold, but NOT bound to the signature: give ${MANIFEST}, which binds them`);
  else push('pass', `${entries.length} entries, chain and ${recordings} recording(s) hold`);
}

/** The lines that are JSON objects; the chain check names the others. */
function parseLines(text: string): AuditEntry[] {
  return text.split('\n').filter(Boolean).flatMap((line) => {
    try {
      const v: unknown = JSON.parse(line);
      return isObject(v) ? [v as unknown as AuditEntry] : [];
    } catch {
      return [];
    }
  });
}

function transcriptRow(e: AuditEntry, line: number): TranscriptRow {
  const d = isObject(e.data) ? e.data : {};
  const what = e.event === 'exec' && Array.isArray(d.cmd) ? d.cmd.map(quoted).join(' ')
    : typeof d.path === 'string' ? d.path
      : e.event === 'terminal' ? `terminal session (${quoted(d.ended ?? '?')})`
        : e.event === 'oom' ? `a process of service ${quoted(d.service ?? '?')} OOM-killed by the kernel` : '';
  const exitCode = typeof d.exitCode === 'number' ? String(d.exitCode) : e.event === 'exec' || e.event === 'terminal' ? '–' : quoted(d.outcome ?? '');
  return { line, seq: quoted(e.seq), event: quoted(e.event), actor: quoted(e.actor), what, exitCode };
}

/** An untrusted value as text: a string as it is, anything else as JSON (String() can throw). */
const quoted = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v) ?? typeof v);

function sameJson(bytes: Uint8Array, text: string): boolean {
  try {
    const a = canonicalize(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)));
    return typeof a === 'string' && a === canonicalize(JSON.parse(text));
  } catch {
    return false;
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** lib/audit-chain.ts's rules (each hash covers the entry's canonical JSON and the previous hash). */
export function checkAuditChain(bytes: Uint8Array, signedHead: string): { ok: true; length: number; afterHead: string[] } | { ok: false; reason: string } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { ok: false, reason: 'audit.jsonl is not UTF-8' };
  }
  const lines = text.split('\n').filter((l) => l.length > 0);
  let prev = '0'.repeat(64);
  let sawHead = false;
  const afterHead: string[] = [];
  for (const [i, line] of lines.entries()) {
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      return { ok: false, reason: `entry ${i} is not JSON` };
    }
    if (!isObject(entry)) return { ok: false, reason: `entry ${i} is not an object` };
    if (entry.seq !== i) return { ok: false, reason: `entry ${i} is out of sequence (deleted, inserted or reordered)` };
    if (entry.prev !== prev) return { ok: false, reason: `entry ${i} does not follow the previous entry's hash` };
    const { hash, ...body } = entry;
    const canonical = canonicalize(body);
    if (typeof canonical !== 'string' || hex(sha256(utf8.encode(canonical))) !== hash) return { ok: false, reason: `entry ${i} was modified (hash mismatch)` };
    if (sawHead) afterHead.push(`#${i} ${quoted(entry.event)} by ${quoted(entry.actor)}`);
    if (hash === signedHead) sawHead = true;
    prev = hash;
  }
  if (!sawHead) return { ok: false, reason: `the signed head ${signedHead.slice(0, 12)}… is not in the chain (truncated or rewritten)` };
  return { ok: true, length: lines.length, afterHead };
}
