// Scenario container lifecycle on one Docker host. Every step is idempotent by the container's
// deterministic name, so a retried or re-delivered activity adopts what an earlier attempt did.
import type Docker from 'dockerode';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Template } from '../infra/template.ts';
import { FailureTypes } from '../contract/failures.ts';
import { scenarioContainerName, scenarioSpec, type EffectiveLimits } from './container-spec.ts';
import { TEMPLATE_DIGEST_LABEL } from '../infra/images.ts';

export interface ContainerDeps {
  docker: Docker;
  runtime?: string | undefined;
  /** labelled on every container this host creates, so its reconciler judges only its own */
  hostId: string;
}

export interface LaunchRequest {
  scenarioId: string;
  tenant: string;
  subject: string;
  template: Template;
  /** the template version digest the entitlement pinned: the image must have been built from it */
  templateDigest: string;
  limits: EffectiveLimits;
}
export interface LaunchedContainer {
  containerName: string;
  containerId: string;
  imageId: string;
  adopted: boolean;
  /** where relative paths of the subject's exec and file calls resolve (absent before access existed) */
  workdir?: string;
  /** set when the container had already run and stopped: its exit happened before anyone waited for it */
  exitCode?: number;
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

export function createContainerActivities(deps: ContainerDeps) {
  const { docker } = deps;

  async function launchContainer(req: LaunchRequest): Promise<LaunchedContainer> {
    const name = scenarioContainerName(req.scenarioId);
    const image = await pinnedImage(docker, req.template.image.tag, req.templateDigest);
    let adopted = true;
    let info: Docker.ContainerInspectInfo;
    try {
      info = await docker.getContainer(name).inspect();
    } catch (err) {
      if (!isNotFound(err)) throw err;
      adopted = false;
      // No secret goes into the container: the party inside is the one being judged. The scenario
      // host asks the API for its completion token (POST /api/scenarios/:id/completion-token).
      const spec = scenarioSpec({
        scenarioId: req.scenarioId,
        tenant: req.tenant,
        template: req.template,
        limits: req.limits,
        runtime: deps.runtime,
        hostId: deps.hostId,
        env: [`ARBITER_SCENARIO_ID=${req.scenarioId}`],
      });
      try {
        await docker.createContainer(spec);
      } catch (createErr) {
        // Another attempt won the race to create it: adopt that one.
        if ((createErr as { statusCode?: number }).statusCode !== 409) throw createErr;
        adopted = true;
      }
      info = await docker.getContainer(name).inspect();
    }
    if (info.Image !== image.Id) {
      throw ApplicationFailure.nonRetryable(`container ${name} runs image ${info.Image}, expected ${image.Id}`, FailureTypes.imageMissing);
    }
    if (!info.State.Running && !info.State.FinishedAt.startsWith('0001')) {
      // It ran and stopped before we recorded it (it exited, or the engine restarted and stopped
      // it): starting it again would hide that, so report it with its exit code.
      return { containerName: name, containerId: info.Id, imageId: info.Image, adopted, workdir: info.Config.WorkingDir || '/', exitCode: info.State.ExitCode };
    }
    if (!info.State.Running) {
      try {
        await docker.getContainer(name).start();
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode !== 304) throw err;
      }
    }
    Context.current().log.info('container running', { scenarioId: req.scenarioId, containerName: name, adopted });
    return { containerName: name, containerId: info.Id, imageId: info.Image, adopted, workdir: info.Config.WorkingDir || '/' };
  }

  async function teardownContainer(req: { containerName: string }): Promise<void> {
    const container = docker.getContainer(req.containerName);
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

  return { launchContainer, teardownContainer };
}
