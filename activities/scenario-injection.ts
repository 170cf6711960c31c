// What is per scenario goes into its containers only once they are the scenario's: after a warm
// pool's entry was claimed, or after a cold start, the same way both times, so that a pooled
// container and a cold one are made identically. The host first records what it is about to do
// (<storageDir>/scenarios/<id>/claim.json: pooled or not, from which entry, the containers, where
// it injects what), then injects: a retried launch reads the record back and writes the very same
// flag, so a scenario has one flag whatever happened to the worker. The record goes into the
// evidence (claim.json), so the manifest and the signed verdict bind it, and the scorer reads the
// flag there.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { ApplicationFailure } from '@temporalio/activity';
import { openExec, type OpenExec, type OpenExecOptions } from '../infra/container-access.ts';
import { scenarioDir } from '../infra/results.ts';
import type { Template } from '../infra/template.ts';
import { FailureTypes } from '../contract/failures.ts';
import { injections } from '../infra/metrics.ts';
import type { PodMember } from './container-spec.ts';

export const CLAIM_FILE = 'claim.json';

export interface ClaimRecord {
  pooled: boolean;
  poolKey?: string;
  entry?: string;
  claimedAt: string;
  /** how long the claim took (the image checks it overlaps and the renames), or the cold create and start */
  claimMs: number;
  containers: Array<{ name: string; id: string }>;
  injected: {
    identityPath?: string;
    flag?: { service: string; path: string; sha256: string; value: string };
  };
}

export function claimRecordPath(storageDir: string, scenarioId: string): string {
  return join(scenarioDir(storageDir, scenarioId), CLAIM_FILE);
}

export function readClaimRecord(storageDir: string, scenarioId: string): ClaimRecord | undefined {
  const file = claimRecordPath(storageDir, scenarioId);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as ClaimRecord) : undefined;
}

function writeClaimRecord(storageDir: string, scenarioId: string, record: ClaimRecord): void {
  const file = claimRecordPath(storageDir, scenarioId);
  mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
  writeFileSync(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o644 });
  renameSync(`${file}.tmp`, file);
}

/** A scenario's flag: ARB{32 hex}. */
export function newFlag(): string {
  return `ARB{${randomBytes(16).toString('hex')}}`;
}

// Each file is written beside its target with the mode it must have from its creation on, then
// renamed over it (a retry replaces a 0400 file the same way). Run as the service's own user, in
// its /work tmpfs, one process per container, everything on stdin: per file a line "length umask
// path" (template paths are [A-Za-z0-9._/-]), then its bytes, which are one line of printable ASCII
// (the identity's JSON escapes the rest); a line "." ends it. The process can be started before
// the scenario exists (a warm pool primes one per entry) and written at the claim; one whose stdin
// closed before the "." (its host worker died, the connection broke) exits 75, one cut inside a
// file exits 76, and either wrote only whole files. Having written them all, it prints INJECT_DONE
// and exits 0: that line is the answer, and the engine is not asked for the exit code (measured:
// 1.7 ms at the median of a pool hit's claim). The shell's own builtins read, write and read back each file, so a
// file costs one process, its rename (and a directory's creation the first time): measured on
// this engine, two files took about 7 ms from the write to the exit against 11 ms when each file
// also ran dirname, rm, dd and wc.
const INJECT_DONE = 'arbiter-inject: done';
const INJECT_SCRIPT = `u=$(umask)
while IFS=' ' read -r n m p; do
  [ "$n" = . ] && { echo '${INJECT_DONE}'; exit 0; }
  IFS= read -r c || exit 76
  [ "\${#c}" -eq "$((n - 1))" ] || exit 76
  d=\${p%/*}
  [ -d "\${d:-/}" ] || mkdir -p -- "$d" || exit 73
  t="$d/.arbiter-inject.$$"
  if [ -e "$t" ]; then rm -f -- "$t" || exit 73; fi
  umask "$m"
  { printf '%s\\n' "$c" > "$t"; } 2>/dev/null || { umask "$u"; rm -f -- "$t"; exit 76; }
  umask "$u"
  { IFS= read -r b < "$t" && [ "$b" = "$c" ]; } 2>/dev/null || { rm -f -- "$t"; exit 76; }
  mv -f -- "$t" "$p" || { rm -f -- "$t"; exit 73; }
done
exit 75`;

/** One line of printable ASCII: what the injector's shell reads and writes byte for byte. */
const INJECTABLE = /^[\x20-\x7e]*\n$/;

/** JSON with every character outside printable ASCII escaped: the same value, injectable. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

interface InjectedFile { path: string; bytes: Buffer; umask: string }

/** The injector's process as a member's container runs it (its user, its runtime). */
function injectorOf(member: PodMember): OpenExecOptions {
  return { cmd: ['/bin/sh', '-c', INJECT_SCRIPT, 'arbiter-inject'], cwd: '/', env: {}, user: member.service!.user, runtime: member.spec.HostConfig?.Runtime, doneMarker: `${INJECT_DONE}\n` };
}

/** Starts a member's injector ahead of its claim (workers/pool-keeper.ts): it waits on its stdin. */
export function primeInjector(docker: Docker, member: PodMember): Promise<OpenExec> {
  return openExec(docker.getContainer(member.containerName), injectorOf(member), 4096);
}

/** The services of a scenario that the template has files injected into. */
export function injectionTargets(template: Template, members: readonly PodMember[]): PodMember[] {
  const inject = template.inject;
  const targets = new Set<PodMember>();
  if (inject?.identity) targets.add(members.find((m) => m.main)!);
  const flagMember = flagMemberOf(template, members);
  if (flagMember) targets.add(flagMember);
  return [...targets];
}

function flagMemberOf(template: Template, members: readonly PodMember[]): PodMember | undefined {
  const flag = template.inject?.flag;
  return flag ? members.find((m) => m.role === 'service' && (flag.service === undefined ? m.main : m.name === flag.service)) : undefined;
}

async function injectFiles(docker: Docker, template: string, member: PodMember, files: readonly InjectedFile[], primed: OpenExec | undefined): Promise<void> {
  if (files.length === 0) {
    primed?.abandon();
    return;
  }
  for (const f of files) if (!INJECTABLE.test(f.bytes.toString('latin1'))) throw new Error(`${f.path}: an injected file is one line of printable ASCII`);
  const stdin = Buffer.concat([...files.flatMap((f) => [Buffer.from(`${f.bytes.length} ${f.umask} ${f.path}\n`), f.bytes]), Buffer.from('.\n')]);
  // A primed injector that answers anything but success (its stream broke, its process was gone)
  // is tried once more as a fresh process: the script only ever writes whole files by rename.
  const run = async (opened: OpenExec) => opened.finish(stdin, 30);
  let r = primed && !primed.ended ? await run(primed).catch(() => undefined) : undefined;
  // Its connection is done with either way (one whose process had already ended was never written).
  primed?.abandon();
  let how: 'primed' | 'exec' = 'primed';
  if (r?.exitCode !== 0) {
    how = 'exec';
    const opened = await openExec(docker.getContainer(member.containerName), injectorOf(member), 4096);
    r = await run(opened);
  }
  injections.inc({ template, how });
  if (r.exitCode !== 0) {
    const stderr = r.stderr.toString('utf8').trim().slice(0, 200);
    throw ApplicationFailure.nonRetryable(`could not write ${files.map((f) => f.path).join(', ')} into ${member.containerName} (exit ${r.exitCode ?? 'timed out'})${stderr ? `: ${stderr}` : ''}`, FailureTypes.serviceNotReady);
  }
}

export interface InjectionRequest {
  storageDir: string;
  scenarioId: string;
  tenant: string;
  subject: string;
  template: Template;
  members: readonly PodMember[];
  pooled: { key: string; entry: string } | undefined;
  claimMs: number;
  containers: Array<{ name: string; id: string }>;
  /** the injector a warm pool started in this container ahead of the claim, taken (once) by its id */
  primed?: (containerId: string) => Promise<OpenExec | undefined>;
}

/** Records the claim, then writes what the template asks for into the scenario's containers. */
export async function injectScenario(docker: Docker, req: InjectionRequest): Promise<ClaimRecord> {
  const earlier = readClaimRecord(req.storageDir, req.scenarioId);
  const sameClaim = earlier !== undefined && earlier.pooled === (req.pooled !== undefined) && earlier.entry === req.pooled?.entry;
  const inject = req.template.inject;
  const flagMember = flagMemberOf(req.template, req.members);
  const mainMember = req.members.find((m) => m.main)!;
  const value = earlier?.injected.flag?.value ?? newFlag();
  const record: ClaimRecord = {
    pooled: req.pooled !== undefined,
    ...(req.pooled ? { poolKey: req.pooled.key, entry: req.pooled.entry } : {}),
    claimedAt: sameClaim ? earlier.claimedAt : new Date().toISOString(),
    claimMs: sameClaim ? earlier.claimMs : req.claimMs,
    containers: req.containers,
    injected: {
      ...(inject?.identity ? { identityPath: inject.identity } : {}),
      ...(inject?.flag && flagMember ? { flag: { service: flagMember.name, path: inject.flag.path, sha256: createHash('sha256').update(value).digest('hex'), value } } : {}),
    },
  };
  writeClaimRecord(req.storageDir, req.scenarioId, record);
  const files = new Map<PodMember, InjectedFile[]>();
  const add = (m: PodMember, f: InjectedFile) => files.set(m, [...(files.get(m) ?? []), f]);
  if (inject?.identity) {
    add(mainMember, { path: inject.identity, bytes: Buffer.from(`${asciiJson({ scenarioId: req.scenarioId, tenant: req.tenant, subject: req.subject })}\n`), umask: '0333' });
  }
  if (record.injected.flag && flagMember) add(flagMember, { path: record.injected.flag.path, bytes: Buffer.from(`${value}\n`), umask: '0377' });
  for (const [member, list] of files) {
    const id = req.containers.find((c) => c.name === member.containerName)?.id;
    await injectFiles(docker, `${req.template.id}@${req.template.version}`, member, list, id !== undefined ? await req.primed?.(id) : undefined);
  }
  return record;
}
