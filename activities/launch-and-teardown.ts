// Scenario container lifecycle on one Docker host. Every step is idempotent by the container's
// deterministic name, so a retried or re-delivered activity adopts what an earlier attempt did.
import type Docker from 'dockerode';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Template } from '../infra/template.ts';
import { FailureTypes } from '../contract/failures.ts';
import { diedOfOomKill, LABELS, podMembers, type EffectiveLimits, type PodMember } from './container-spec.ts';
import { execInContainer, type OpenExec } from '../infra/container-access.ts';
import { HOLDER_IMAGE, TEMPLATE_DIGEST_LABEL } from '../infra/images.ts';
import type { Removals } from '../infra/removals.ts';
import { runtimeOf } from '../infra/template.ts';
import { poolClaimSeconds, poolHits, poolMisses } from '../infra/metrics.ts';
import { memberSuffixes, poolKey } from './pool/pool-key.ts';
import { PoolLogic, type Claimed } from './pool/pool-logic.ts';
import { dockerPoolEngine } from './pool/docker-pool-engine.ts';
import { injectScenario, type ClaimRecord } from './scenario-injection.ts';

/** The host's warm pools, as the launch and the teardown see them (workers/pool-keeper.ts). */
export interface HostPools {
  logic: PoolLogic;
  /** a claim took an entry: refill in the background */
  claimed(): void;
  /** the reconciler's pass over pooled entries: those that no longer fit are removed */
  reconcile(): Promise<void>;
  /** the injector the keeper started (or is starting) in a pooled container, by its id; handed out once */
  primed?(containerId: string): Promise<OpenExec | undefined>;
  /** whether the host keeps a pool of this key; undefined until the keeper has worked its pools out */
  keeps?(key: string): boolean | undefined;
  /** whether the host keeps a pool of this template version digest (the key also names its images); undefined until known */
  keepsTemplate?(templateDigest: string): boolean | undefined;
}

export interface ContainerDeps {
  docker: Docker;
  /** labelled on every container this host creates, so its reconciler judges only its own */
  hostId: string;
  /** told of every container teardown removes, so the host's monitor does not report its stop */
  removals?: Removals;
  /** where the claim record (claim.json) of each scenario is written */
  storageDir: string;
  /** the host's pool keeper; without one, launches still claim entries a keeper made */
  pools?: HostPools | undefined;
}

export interface LaunchRequest {
  scenarioId: string;
  tenant: string;
  subject: string;
  template: Template;
  /** the template version digest the entitlement pinned: the image must have been built from it */
  templateDigest: string;
  limits: EffectiveLimits;
  /** the policy bundle that admitted the scenario: part of the pool key (absent: never pooled) */
  policySha256?: string;
}
/** One container of a launched scenario. */
export interface LaunchedService {
  name: string;
  role: 'service' | 'holder';
  main: boolean;
  required: boolean;
  containerName: string;
  containerId: string;
  /** where relative paths of the subject's exec and file calls resolve */
  workdir: string;
}

/** A required container found stopped by the launch: it stopped before anyone waited for it. */
export interface StoppedService { service: string; containerName: string; exitCode: number; oomKilled: boolean }

export interface LaunchedContainer {
  /** the main service's container */
  containerName: string;
  containerId: string;
  imageId: string;
  adopted: boolean;
  /** where relative paths of the subject's exec and file calls resolve (absent before access existed) */
  workdir?: string;
  /** set when the container had already run and stopped: its exit happened before anyone waited for it */
  exitCode?: number;
  /** every container of the scenario, the namespace holder first when there is one */
  services?: LaunchedService[];
  /** the first required container found stopped (the main one reports its code in exitCode too) */
  stopped?: StoppedService;
  /** whether a warm pool's entry was claimed for it (absent before pools existed) */
  pooled?: boolean;
}

export function isNotFound(err: unknown): boolean {
  return (err as { statusCode?: number } | null)?.statusCode === 404;
}

/**
 * The image of a template, refused unless it was built from the pinned template version: a tag
 * rebuilt from other files (an edited template, another checkout) must never run in its name.
 */
export async function pinnedImage(docker: Docker, tag: string, templateDigest: string): Promise<Docker.ImageInspectInfo> {
  let image: Docker.ImageInspectInfo;
  try {
    image = await docker.getImage(tag).inspect();
  } catch (err) {
    if (isNotFound(err)) {
      throw ApplicationFailure.nonRetryable(`image ${tag} is not built on this host: run "arbiter images build"`, FailureTypes.imageMissing);
    }
    throw err;
  }
  const labelled = image.Config?.Labels?.[TEMPLATE_DIGEST_LABEL];
  if (labelled !== templateDigest) {
    throw ApplicationFailure.nonRetryable(
      `image ${tag} was built from template digest ${labelled ?? '(none)'}, not the pinned ${templateDigest}: run "arbiter images build"`,
      FailureTypes.templateModified,
    );
  }
  return image;
}

/**
 * The image a pod member runs, checked: the namespace holder's (the same for every template, built
 * by "arbiter images build"), or the template's, built from the pinned template version.
 */
export async function memberImage(docker: Docker, member: PodMember, templateDigest: string): Promise<Docker.ImageInspectInfo> {
  if (member.role !== 'holder') return pinnedImage(docker, member.spec.Image!, templateDigest);
  try {
    return await docker.getImage(HOLDER_IMAGE).inspect();
  } catch (err) {
    if (isNotFound(err)) throw ApplicationFailure.nonRetryable(`image ${HOLDER_IMAGE} is not built on this host: run "arbiter images build"`, FailureTypes.imageMissing);
    throw err;
  }
}

/** How often a service's readiness command is run again until it exits 0. */
export const READINESS_POLL_MS = 100;

/** Runs the service's readiness command until it exits 0, at most its timeout after the start. */
export async function awaitReady(docker: Docker, member: PodMember): Promise<void> {
  const readiness = member.service?.readiness;
  if (!readiness) return;
  const container = docker.getContainer(member.containerName);
  const deadline = Date.now() + readiness.timeoutSeconds * 1000;
  let last = '';
  for (;;) {
    const left = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
    const r = await execInContainer(container, { cmd: readiness.command, stdin: Buffer.alloc(0), cwd: '/', env: {}, user: member.service!.user, timeoutSeconds: left, runtime: member.spec.HostConfig?.Runtime }, 4096);
    if (r.exitCode === 0) return;
    last = `exit ${r.exitCode ?? 'timed out'}${r.stderr.length ? `: ${r.stderr.toString('utf8').trim().slice(0, 200)}` : ''}`;
    if (Date.now() >= deadline) break;
    await new Promise((r2) => setTimeout(r2, READINESS_POLL_MS));
  }
  throw ApplicationFailure.nonRetryable(`service "${member.name}" was not ready within ${readiness.timeoutSeconds}s (its readiness command: ${last})`, FailureTypes.serviceNotReady);
}

/** Without a keeper (a host that keeps no pools): claims still work, and every unclaimed entry is drained. */
export function defaultPools(docker: Docker, hostId: string): HostPools {
  const logic = new PoolLogic(dockerPoolEngine(docker), hostId);
  return { logic, claimed: () => undefined, reconcile: async () => { await logic.drain([]); } };
}

/**
 * The parts of a container's inspect the launch reads, for one it has just created from `image`:
 * never started, and the working directory the engine takes from the image when the spec has none.
 */
function freshlyCreated(id: string, member: PodMember, image: Docker.ImageInspectInfo): Docker.ContainerInspectInfo {
  return {
    Id: id,
    Image: image.Id,
    Config: { WorkingDir: member.spec.WorkingDir || image.Config?.WorkingDir || '' },
    State: { Running: false, FinishedAt: '0001-01-01T00:00:00Z', ExitCode: 0, OOMKilled: false },
  } as Docker.ContainerInspectInfo;
}

export function createContainerActivities(deps: ContainerDeps) {
  const { docker } = deps;
  const pools: HostPools = deps.pools ?? defaultPools(docker, deps.hostId);

  /**
   * The member's container, created unless an earlier attempt already did (its name is
   * deterministic). `expect` says which is likely, so that the likely case costs one engine call
   * fewer: 'exists' looks first (a claimed entry), 'create' creates first and adopts on a conflict.
   */
  async function ensureCreated(member: PodMember, image: Docker.ImageInspectInfo, expect: 'exists' | 'create'): Promise<{ info: Docker.ContainerInspectInfo; adopted: boolean }> {
    const handle = docker.getContainer(member.containerName);
    let info: Docker.ContainerInspectInfo | undefined;
    if (expect === 'exists') {
      try {
        info = await handle.inspect();
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    if (!info) {
      try {
        // From the image just checked, by its id: a tag rebuilt in between is not what runs.
        const created = await docker.createContainer({ ...member.spec, Image: image.Id });
        // What an inspect would answer is known, so the likely case costs no more engine calls.
        return { info: freshlyCreated(created.id, member, image), adopted: false };
      } catch (createErr) {
        // An earlier attempt created it, or another one won the race to: adopt that one.
        if ((createErr as { statusCode?: number }).statusCode !== 409) throw createErr;
      }
      info = await handle.inspect();
    }
    if (info.Image !== image.Id) {
      throw ApplicationFailure.nonRetryable(`container ${member.containerName} runs image ${info.Image}, expected ${image.Id}`, FailureTypes.imageMissing);
    }
    return { info, adopted: true };
  }

  async function launchContainer(req: LaunchRequest): Promise<LaunchedContainer> {
    // No secret goes into any container: the party inside is the one being judged. The scenario
    // host asks the API for its completion token (POST /api/scenarios/:id/completion-token).
    const members = podMembers({
      scenarioId: req.scenarioId,
      tenant: req.tenant,
      template: req.template,
      limits: req.limits,
      hostId: deps.hostId,
      // Nothing per scenario in the environment: a pooled container, made before its scenario
      // existed, must be the same as a cold one (what is per scenario is injected below).
      env: [],
    });
    const startedAt = Date.now();
    // Each image once, all at once, and meanwhile the claim looks for an earlier attempt's container.
    const byTag = new Map<string, PodMember>();
    for (const m of members) if (!byTag.has(m.spec.Image!)) byTag.set(m.spec.Image!, m);
    const imagesRead = Promise.all([...byTag].map(async ([tag, m]) => [tag, await memberImage(docker, m, req.templateDigest)] as const))
      .then((read) => new Map(read));
    // A warm pool's entry of exactly this hardening, template digest, policy and runtime, claimed
    // by renaming it to the scenario's names; then the cold path below adopts it by those names.
    let claim: Claimed | undefined;
    if (req.policySha256) {
      const { policySha256 } = req;
      const key = imagesRead.then((images) => poolKey({
        templateDigest: req.templateDigest, policySha256, runtime: runtimeOf(req.template), members, images: Object.fromEntries([...images].map(([tag, image]) => [tag, image.Id])),
      }));
      // A key the host keeps no pool of has no entry to look for (only a retry's own container):
      // the launch is cold, and no miss. Settled either way here: a refused image is reported by
      // the await below, not by the claim.
      const kept = (k: string) => pools.keeps?.(k);
      // A template the host keeps a pool of most likely finds an entry: its entries are listed
      // beside the image checks instead of after them.
      const listAhead = pools.keepsTemplate?.(req.templateDigest) === true;
      claim = await pools.logic.claim(key, req.scenarioId, memberSuffixes(members, req.scenarioId), kept, { listAhead }).catch(async (err: unknown) => {
        await imagesRead;
        throw err;
      });
      const template = `${req.template.id}@${req.template.version}`;
      if (claim) {
        if (!claim.adopted) poolHits.inc({ template });
      } else if (kept(await key) !== false) {
        poolMisses.inc({ template });
      }
    }
    const images = await imagesRead;
    try {
      // Created first, all of them, then started in order: a worker killed anywhere in between is
      // resumed by the retry with exactly one container per member (each name is deterministic).
      // A claimed entry's members exist under these names; otherwise they are created unless an
      // earlier attempt did.
      const created = [];
      for (const m of members) created.push({ member: m, ...(await ensureCreated(m, images.get(m.spec.Image!)!, claim ? 'exists' : 'create')) });
      const services: LaunchedService[] = created.map(({ member: m, info }) => ({
        name: m.name, role: m.role, main: m.main, required: m.required, containerName: m.containerName, containerId: info.Id, workdir: info.Config.WorkingDir || '/',
      }));
      const main = created.find((c) => c.member.main)!;
      const result: LaunchedContainer = {
        containerName: main.member.containerName,
        containerId: main.info.Id,
        imageId: main.info.Image,
        adopted: created.every((c) => c.adopted),
        workdir: main.info.Config.WorkingDir || '/',
        ...(members.length > 1 ? { services } : {}),
        pooled: claim !== undefined,
      };
      for (const { member, info } of created) {
        if (!info.State.Running && !info.State.FinishedAt.startsWith('0001')) {
          // It ran and stopped before we recorded it (it exited, or the engine restarted and stopped
          // it): starting it again would hide that, so report it with its exit code.
          if (!member.required) continue;
          const stopped = { service: member.name, containerName: member.containerName, exitCode: info.State.ExitCode, oomKilled: diedOfOomKill(info.State) };
          return { ...result, stopped, ...(member.main ? { exitCode: info.State.ExitCode } : {}) };
        }
        if (!info.State.Running) {
          try {
            await docker.getContainer(member.containerName).start();
          } catch (err) {
            if ((err as { statusCode?: number }).statusCode !== 304) throw err;
          }
        }
      }
      // A pooled entry is claimable only once all its members were ready (pool-logic WARMING_SUFFIX):
      // a fresh claim skips the readiness commands; a retry that adopts runs them again.
      if (!claim || claim.adopted) for (const { member } of created) await awaitReady(docker, member);
      const claimMs = Date.now() - startedAt;
      const record: ClaimRecord = await injectScenario(docker, {
        storageDir: deps.storageDir, scenarioId: req.scenarioId, tenant: req.tenant, subject: req.subject, template: req.template, members,
        pooled: claim ? { key: claim.key, entry: claim.entry } : undefined, claimMs,
        containers: created.map(({ member, info }) => ({ name: member.containerName, id: info.Id })),
        // A claim takes what the keeper started in its entry (a retry that adopts too: the same script
        // writes the same files); a cold start has none.
        ...(claim ? { primed: async (id: string) => pools.primed?.(id) } : {}),
      });
      if (claim && !claim.adopted) poolClaimSeconds.observe({ template: `${req.template.id}@${req.template.version}` }, (Date.now() - startedAt) / 1000);
      Context.current().log.info('scenario running', { scenarioId: req.scenarioId, containers: members.map((m) => m.containerName), adopted: result.adopted, pooled: record.pooled, ...(claim ? { poolKey: claim.key, entry: claim.entry } : {}), claimMs });
      return result;
    } finally {
      // The refill is asked for once the launch has answered, or failed, or found its container
      // stopped: an entry left the pool either way. Not sooner: a keeper pass reads and hashes the
      // templates and the policy bundle on this process's event loop, which held up the injection
      // and the launch's completion when it ran in between (about 20 ms of a pool hit, bench/pools.ts).
      if (claim) setImmediate(() => pools.claimed());
    }
  }

  async function stopAndRemove(containerName: string): Promise<void> {
    deps.removals?.add(containerName);
    const container = docker.getContainer(containerName);
    try {
      await container.stop({ t: 5 });
    } catch (err) {
      // 304: already stopped; 404: already gone. Both are the state we want.
      const code = (err as { statusCode?: number }).statusCode;
      if (code !== 304 && code !== 404) throw err;
    }
    try {
      await container.remove({ force: true, v: true });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /**
   * Removes the scenario's containers: the named one, and with `scenarioId` every container of
   * the scenario this host created (a launch that stopped halfway leaves some that no result
   * names), the services before their namespace holder.
   */
  async function teardownContainer(req: { containerName?: string; scenarioId?: string }): Promise<void> {
    const names = new Set(req.containerName ? [req.containerName] : []);
    const holders = new Set<string>();
    // Claimed from a pool, its containers carry no scenario label: they are found by the
    // scenario's names, and by the pooled entry its main was claimed from (a claim stopped halfway
    // left some under their pooled names). A container that served a scenario never goes back.
    const scenarioId = req.scenarioId ?? (req.containerName?.startsWith('arbiter-') ? req.containerName.slice('arbiter-'.length) : undefined);
    if (scenarioId) {
      for (const c of await pools.logic.scenarioContainers(scenarioId)) {
        if (c.labels[LABELS.role] === 'holder') holders.add(c.name);
        else names.add(c.name);
      }
    }
    if (req.scenarioId) {
      const found = await docker.listContainers({ all: true, filters: { label: [`${LABELS.scenario}=${req.scenarioId}`, `${LABELS.host}=${deps.hostId}`] } });
      for (const c of found) {
        const name = (c.Names[0] ?? c.Id).replace(/^\//, '');
        const role = c.Labels[LABELS.role];
        if (role === 'holder') holders.add(name);
        else if (role === 'scenario') names.add(name);
      }
    }
    await Promise.all([...names].map(stopAndRemove));
    await Promise.all([...holders].map(stopAndRemove));
  }

  return { launchContainer, teardownContainer };
}
