// A complete, signed results folder written the way activities/collect-evidence.ts and
// activities/sign-verdict.ts write one, and `arbiter verify` run as a user runs it (a child process),
// for the verifier's tests.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { appendEvent, buildChain, GENESIS_HASH, serializeChain, type AuditEntry } from '../../lib/audit-chain.ts';
import { canonicalJson, sha256Hex } from '../../lib/canonical-json.ts';
import { accessFileName, streamDigest, TRANSCRIPT_FILE, type ExecData, type FileData, type TerminalData } from '../../lib/transcript.ts';
import { buildManifest, MANIFEST_FILE, manifestBytes } from '../../infra/evidence-manifest.ts';
import type { Jwks, Signer } from '../../infra/keys.ts';
import { RESULTS } from '../../infra/results.ts';
import { buildStatement, signStatement, type ScoreResult, type VerdictPredicate } from '../../infra/verdict.ts';
import { REPO } from './harness.ts';

export function predicate(over: Partial<VerdictPredicate> = {}): VerdictPredicate {
  return {
    scenarioId: 'scn-0001',
    subject: 'user-1',
    tenant: 'acme',
    plan: 'free',
    track: 'intro',
    template: { id: 'hello', version: '1', digest: `sha256:${'ab'.repeat(32)}` },
    policy: { sha256: 'cd'.repeat(32), allow: true },
    outcome: 'completed',
    status: 'scored',
    score: { score: 1, maxScore: 1, passed: true },
    auditHead: GENESIS_HASH,
    issuedAt: '2024-01-01T00:00:00.000Z',
    keyId: 'unset',
    ...over,
  };
}

export interface SignedResults { dir: string; jwks: Jwks }

/** One interaction of subject access, as the transcript records it (CONTRACT "Subject access"). */
export type Interaction =
  | { event: 'exec'; actor?: string; cmd: string[]; exitCode?: number; stdin?: string | Buffer; stdout?: string | Buffer; stderr?: string | Buffer }
  | { event: 'file.read' | 'file.write'; actor?: string; path: string; content: string | Buffer }
  | { event: 'terminal'; actor?: string; cast: string | Buffer; exitCode?: number };

/**
 * A transcript of `interactions` the way the API records one: entries chained by appendEvent,
 * each stream's bytes kept (up to `capBytes`) under access/. `files` is relative to evidence/.
 */
export function buildTranscript(interactions: readonly Interaction[], capBytes = 1024 * 1024): { entries: AuditEntry[]; files: Record<string, Buffer> } {
  const entries: AuditEntry[] = [];
  const files: Record<string, Buffer> = {};
  const time = (i: number) => new Date(Date.UTC(2024, 0, 1, 0, 1, i)).toISOString();
  const stream = (seq: number, what: string, bytes: string | Buffer | undefined) => {
    const { digest, kept } = streamDigest(Buffer.from(bytes ?? ''), accessFileName(seq, what), capBytes);
    if (kept && digest.stored) files[digest.stored.path] = Buffer.from(kept);
    return digest;
  };
  for (const it of interactions) {
    const seq = entries.length;
    const common = { service: 'main', user: 'player' };
    let data: ExecData | FileData | TerminalData;
    if (it.event === 'exec') {
      data = {
        ...common, cmd: it.cmd, cwd: '/work', env: [], envSha256: sha256Hex(canonicalJson({})), timeoutSeconds: null,
        exitCode: it.exitCode ?? 0, timedOut: false, truncated: { stdout: false, stderr: false }, startedAt: time(seq), durationMs: 12,
        stdin: stream(seq, 'stdin', it.stdin), stdout: stream(seq, 'stdout', it.stdout), stderr: stream(seq, 'stderr', it.stderr),
      };
    } else if (it.event === 'terminal') {
      data = { ...common, startedAt: time(seq), durationMs: 3000, exitCode: it.exitCode ?? 0, ended: 'exited', recording: stream(seq, 'terminal.cast', it.cast) };
    } else {
      data = { ...common, path: it.path, outcome: 'ok', content: stream(seq, 'content', it.content) };
    }
    entries.push(appendEvent(entries, { time: time(seq), actor: it.actor ?? 'subject:user-1', event: it.event, data: data as unknown as Record<string, unknown> }));
  }
  files[TRANSCRIPT_FILE] = Buffer.from(serializeChain(entries));
  return { entries, files };
}

/**
 * Writes scenarios/<scenarioId>/results under `storage` and signs it with `signer`. `score` and
 * `evidence` (relative path → bytes) vary what is signed.
 */
export async function writeSignedResults(storage: string, signer: Signer, opts: {
  scenarioId?: string;
  score?: ScoreResult;
  evidence?: Record<string, string | Buffer>;
  /** interactions recorded in evidence/transcript.jsonl and evidence/access/, beside `evidence` */
  transcript?: readonly Interaction[];
} = {}): Promise<SignedResults> {
  const scenarioId = opts.scenarioId ?? 'scn-0001';
  const dir = join(storage, 'scenarios', scenarioId, 'results');
  mkdirSync(dir, { recursive: true });
  const score = opts.score ?? { score: 1, maxScore: 3, passed: false, checks: [{ name: 'answer is hello', passed: true }] };
  const scoreBytes = canonicalJson(score);
  writeFileSync(join(dir, RESULTS.score), scoreBytes);

  const evidenceDir = join(dir, RESULTS.evidenceDir);
  const evidence = {
    ...(opts.evidence ?? {
      'container.log': 'hello from the scenario\n',
      'files/work/answer.txt': 'hello\n',
      'exit.json': canonicalJson({ exitCode: 0, running: false }),
    }),
    ...(opts.transcript ? buildTranscript(opts.transcript).files : {}),
  };
  for (const [path, bytes] of Object.entries(evidence)) {
    mkdirSync(join(evidenceDir, path, '..'), { recursive: true });
    writeFileSync(join(evidenceDir, path), bytes);
  }
  mkdirSync(evidenceDir, { recursive: true });
  const manifest = manifestBytes(buildManifest(evidenceDir));
  writeFileSync(join(evidenceDir, MANIFEST_FILE), manifest);

  const chain = buildChain([
    { time: '2024-01-01T00:00:00.000Z', actor: 'api', event: 'requested' },
    { time: '2024-01-01T00:00:01.000Z', actor: 'workflow', event: 'started' },
    { time: '2024-01-01T00:05:00.000Z', actor: 'host', event: 'completed' },
    { time: '2024-01-01T00:05:10.000Z', actor: 'workflow', event: 'scored' },
  ]);
  writeFileSync(join(dir, RESULTS.audit), serializeChain(chain));

  const statement = buildStatement(
    predicate({ scenarioId, auditHead: chain.at(-1)!.hash, keyId: signer.keyId, score: { score: score.score, maxScore: score.maxScore, passed: score.passed } }),
    { score: sha256Hex(scoreBytes), manifest: sha256Hex(manifest) },
  );
  const envelope = await signStatement(statement, signer);
  writeFileSync(join(dir, RESULTS.verdict), canonicalJson(statement));
  writeFileSync(join(dir, RESULTS.envelope), JSON.stringify(envelope, null, 2));
  return { dir, jwks: { keys: [signer.publicJwk] } };
}

export interface CliRun { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number; endedAt: number }

/**
 * Runs `arbiter <args>` as a user would, with no env file (so no deployment is configured unless
 * `env` says so). A run that outlives `killAfterMs` is killed and answers with its signal: the
 * caller's assertion on the code then fails, instead of the test hanging.
 */
export function runArbiter(args: string[], opts: { env?: Record<string, string>; cwd?: string; killAfterMs?: number; onStdout?: (all: string, child: ReturnType<typeof spawn>) => void } = {}): Promise<CliRun> {
  const env: Record<string, string | undefined> = { ...process.env, ARBITER_ENV_FILE: '/nonexistent', ...opts.env };
  delete env.ARBITER_KEYS_DIR;
  if (opts.env?.ARBITER_KEYS_DIR) env.ARBITER_KEYS_DIR = opts.env.ARBITER_KEYS_DIR;
  const started = performance.now();
  const child = spawn(process.execPath, [join(REPO, 'bin', 'arbiter.js'), ...args], { env, cwd: opts.cwd ?? REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    opts.onStdout?.(stdout, child);
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const killer = setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs ?? 60_000);
  return new Promise((resolvePromise) => {
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolvePromise({ code, signal, stdout, stderr, ms: performance.now() - started, endedAt: performance.now() });
    });
  });
}
