// Evidence is taken from the scenario container after it ends and before it is removed: what the
// scorer sees and what the verdict binds. Re-running the collection rewrites the same files.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { Context } from '@temporalio/activity';
import { canonicalJson } from '../lib/canonical-json.ts';
import { buildManifest, manifestBytes, MANIFEST_FILE } from '../infra/evidence-manifest.ts';
import { resultsDir, resultsKey, RESULTS } from '../infra/results.ts';
import { uploadTree, type ArtifactStore } from '../infra/artifact-store.ts';
import type { PolicyDecision } from '../lib/policy-types.ts';
import type { Template } from '../infra/template.ts';
import type { CompletionRequest } from '../contract/scenario.ts';
import { sha256Hex } from '../infra/sha256.ts';
import { redactSecrets } from '../infra/secret-redaction.ts';
import { isNotFound } from './launch-and-teardown.ts';
import { collectFromInside } from './evidence-inside.ts';
import { diedOfOomKill, podMembers } from './container-spec.ts';
import type { Entitlement } from './check-entitlements.ts';
import type { AccessRegistry } from '../infra/access-registry.ts';
import { copyTranscript, TranscriptLog, transcriptDir } from '../infra/transcript-log.ts';
import { ACCESS_DIR, TRANSCRIPT_FILE } from '../lib/transcript.ts';
import { CLAIM_FILE, claimRecordPath } from './scenario-injection.ts';

export const LOG_CAP_BYTES = 1024 * 1024;

export interface EvidenceRequest {
  scenarioId: string;
  containerName: string;
  template: Template;
  completion: CompletionRequest | null;
  entitlement: Entitlement;
  policy: PolicyDecision;
}

/** Docker multiplexes stdout and stderr in 8-byte-framed chunks when there is no TTY. */
export function demuxDockerLog(buf: Buffer): string {
  const out: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const size = buf.readUInt32BE(i + 4);
    out.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return Buffer.concat(out).toString('utf8');
}

/** The isolation a container actually got, read back from the engine rather than from our request. */
export function isolationReport(info: Docker.ContainerInspectInfo): Record<string, unknown> {
  const hc = info.HostConfig as Docker.HostConfig & { Init?: boolean; Runtime?: string };
  return {
    networkMode: hc.NetworkMode,
    readonlyRootfs: hc.ReadonlyRootfs,
    capDrop: hc.CapDrop,
    capAdd: hc.CapAdd ?? [],
    securityOpt: hc.SecurityOpt,
    privileged: hc.Privileged,
    user: info.Config.User,
    memory: hc.Memory,
    memorySwap: hc.MemorySwap,
    nanoCpus: hc.NanoCpus,
    pidsLimit: hc.PidsLimit,
    // under runsc the process cap is the nproc ulimit (no pids limit there)
    ulimits: hc.Ulimits ?? [],
    ipcMode: hc.IpcMode,
    pidMode: hc.PidMode,
    init: hc.Init,
    runtime: hc.Runtime,
    tmpfs: hc.Tmpfs,
    binds: hc.Binds ?? [],
  };
}

/**
 * Replaces every secret in every file under the evidence folder, before the manifest binds them.
 * No secret is handed to a scenario container any more, but the host's own writes (a submission,
 * an inspect output) and whatever the subject left behind are checked all the same.
 */
export function redactEvidence(dir: string): number {
  let total = 0;
  // The transcript and its recordings were redacted as they were written (infra/transcript-log.ts),
  // and their digests were taken then: rewriting them now would break the chain.
  const transcript = join(dir, TRANSCRIPT_FILE);
  const recordings = join(dir, ACCESS_DIR) + '/';
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = join(entry.parentPath, entry.name);
    if (file === transcript || file.startsWith(recordings)) continue;
    const { bytes, redacted } = redactSecrets(readFileSync(file));
    if (redacted > 0) writeFileSync(file, bytes, { mode: 0o644 });
    total += redacted;
  }
  return total;
}

/**
 * Ends subject access to the scenario and copies its transcript into the evidence: through this
 * host's registry (in-flight calls stopped and recorded, open terminals closed), or, when another
 * process served it, by closing and sealing the transcript on disk.
 */
async function takeTranscript(deps: { storageDir: string; access?: AccessRegistry | undefined }, scenarioId: string, evidenceDir: string): Promise<number> {
  if (deps.access) await deps.access.close(scenarioId, 'container-host');
  else {
    const log = new TranscriptLog(transcriptDir(deps.storageDir, scenarioId));
    log.close();
    await log.sealOrphans('container-host');
  }
  return copyTranscript(transcriptDir(deps.storageDir, scenarioId), evidenceDir);
}

export const SERVICES_DIR = 'services';
export const ENVIRONMENT_FILE = 'environment.json';

/**
 * One container's evidence into `where`: its log, inspect and isolation as the engine reports
 * them, how it ended, what it changed, its declared paths and the isolation seen from inside.
 * Answers how it ended (or that it is missing).
 */
async function collectContainer(docker: Docker, containerName: string, where: string, evidencePaths: string[]): Promise<Record<string, unknown>> {
  const write = (name: string, data: string | Buffer) => writeFileSync(join(where, name), data, { mode: 0o644 });
  const container = docker.getContainer(containerName);
  let state: Record<string, unknown>;
  try {
    const info = await container.inspect();
    const logs = await container.logs({ stdout: true, stderr: true, follow: false, timestamps: false });
    let text = demuxDockerLog(logs);
    const truncated = Buffer.byteLength(text) > LOG_CAP_BYTES;
    if (truncated) text = Buffer.from(text).subarray(0, LOG_CAP_BYTES).toString('utf8');
    write('container.log', text);
    write('inspect.json', canonicalJson(info));
    write('isolation.json', canonicalJson(isolationReport(info)));
    // Whether the OOM killer ended its main process, as the reset says (inspect.json keeps the
    // engine's own State.OOMKilled, which an OOM kill of any of its processes sets: diedOfOomKill).
    const oomKilled = diedOfOomKill(info.State);
    write('exit.json', canonicalJson({ running: info.State.Running, exitCode: info.State.ExitCode, oomKilled, logTruncated: truncated, logCapBytes: LOG_CAP_BYTES }));
    // What the scenario changed in its container's filesystem (the engine answers null for no
    // change); sorted, so the same changes always hash the same.
    const changes = ((await container.changes()) as Array<{ Path: string; Kind: number }> | null) ?? [];
    const kinds = ['modified', 'added', 'deleted'];
    write('fs-diff.json', canonicalJson(changes
      .map((c) => ({ path: c.Path, kind: kinds[c.Kind] ?? String(c.Kind) }))
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))));
    state = { running: info.State.Running, exitCode: info.State.ExitCode, oomKilled, restartCount: info.RestartCount, startedAt: info.State.StartedAt };
  } catch (err) {
    if (!isNotFound(err)) throw err;
    write('container-missing.json', canonicalJson({ containerName }));
    state = { missing: true };
  }
  // The declared paths and the in-container isolation view, read while it still runs.
  // Cancellation reaches the activity with its next heartbeat (activities/heartbeat.ts).
  await collectFromInside(container, evidencePaths, where, Context.current().cancellationSignal);
  return state;
}

/** This host's evidence folder of a scenario, as the store's copy; the manifest goes last. */
export function uploadEvidence(store: ArtifactStore, storageDir: string, scenarioId: string): Promise<number> {
  return uploadTree(store, join(resultsDir(storageDir, scenarioId), RESULTS.evidenceDir), resultsKey(scenarioId, RESULTS.evidenceDir), { last: MANIFEST_FILE });
}

export function createEvidenceActivities(deps: { docker: Docker; storageDir: string; access?: AccessRegistry | undefined; store?: ArtifactStore | undefined }) {
  async function collectEvidence(req: EvidenceRequest): Promise<{ manifestSha256: string; files: number }> {
    const dir = join(resultsDir(deps.storageDir, req.scenarioId), RESULTS.evidenceDir);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const write = (name: string, data: string | Buffer) => writeFileSync(join(dir, name), data, { mode: 0o644 });

    // First, so that nothing the subject does after the wait ended is missing from what is bound.
    const interactions = await takeTranscript(deps, req.scenarioId, dir);
    if (interactions > 0) Context.current().log.info('transcript collected', { scenarioId: req.scenarioId, entries: interactions });
    // The main service's evidence stays where single-container scenarios always had it; every
    // other service's goes under services/<name>/, and environment.json says how each one ended.
    // Only each member's name, role and container are read here, not its create options.
    const members = podMembers({ scenarioId: req.scenarioId, tenant: '', template: req.template, limits: req.entitlement.limits, env: [] });
    const environment = [];
    for (const m of members) {
      const where = m.main ? dir : join(dir, SERVICES_DIR, m.name);
      mkdirSync(where, { recursive: true, mode: 0o755 });
      const name = m.main ? req.containerName : m.containerName;
      environment.push({ name: m.name, role: m.role, main: m.main, required: m.required, containerName: name, ...(await collectContainer(deps.docker, name, where, m.role === 'holder' ? [] : (m.service?.evidencePaths ?? []))) });
    }
    if (members.length > 1) write(ENVIRONMENT_FILE, canonicalJson({ containers: environment }));
    write('submission.json', canonicalJson(req.completion ?? { outcome: 'none', submission: {} }));
    write('entitlement.json', canonicalJson(req.entitlement));
    write('policy.json', canonicalJson(req.policy));
    // How the scenario got its containers (a warm pool's entry or a cold start) and what was
    // injected into them: bound by the manifest, so by the verdict; the scorer reads the flag here.
    const claim = claimRecordPath(deps.storageDir, req.scenarioId);
    if (existsSync(claim)) copyFileSync(claim, join(dir, CLAIM_FILE));
    const redacted = redactEvidence(dir);
    if (redacted > 0) Context.current().log.warn('secrets redacted from evidence', { scenarioId: req.scenarioId, redacted });
    const manifest = buildManifest(dir);
    const bytes = manifestBytes(manifest);
    write(MANIFEST_FILE, bytes);
    // Collected here, kept by the store: the main worker signs over it and the API serves it.
    if (deps.store) await uploadEvidence(deps.store, deps.storageDir, req.scenarioId);
    return { manifestSha256: sha256Hex(bytes), files: manifest.files.length };
  }
  return { collectEvidence };
}
