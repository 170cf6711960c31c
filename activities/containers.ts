// Scenario container lifecycle on one Docker host. Every step is idempotent by the container's
// deterministic name, so a retried or re-delivered activity adopts what an earlier attempt did.
import type Docker from 'dockerode';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { completionRing, mintToken } from '../lib/tokens.ts';
import type { SecretRing } from '../lib/config.ts';
import type { Template } from '../lib/template.ts';
import { FailureTypes } from '../workflows/shared.ts';
import { scenarioContainerName, scenarioSpec, type EffectiveLimits } from './container-spec.ts';

export interface ContainerDeps {
  docker: Docker;
  completionSecret: SecretRing;
  runtime?: string | undefined;
}

export interface LaunchRequest { scenarioId: string; tenant: string; subject: string; template: Template; limits: EffectiveLimits }
export interface LaunchedContainer { containerName: string; containerId: string; imageId: string; adopted: boolean }

export function isNotFound(err: unknown): boolean {
  return (err as { statusCode?: number } | null)?.statusCode === 404;
}

export function createContainerActivities(deps: ContainerDeps) {
  const { docker } = deps;

  async function launchContainer(req: LaunchRequest): Promise<LaunchedContainer> {
    const name = scenarioContainerName(req.scenarioId);
    let image: Docker.ImageInspectInfo;
    try {
      image = await docker.getImage(req.template.image.tag).inspect();
    } catch (err) {
      if (isNotFound(err)) {
        throw ApplicationFailure.nonRetryable(`image ${req.template.image.tag} is not built on this host: run "arbiter images build"`, FailureTypes.imageMissing);
      }
      throw err;
    }
    let adopted = true;
    let info: Docker.ContainerInspectInfo;
    try {
      info = await docker.getContainer(name).inspect();
    } catch (err) {
      if (!isNotFound(err)) throw err;
      adopted = false;
      // The completion token goes into the container's environment: the scenario host reads it
      // from there, and it is only good for this one scenario.
      const ttl = req.limits.ttlSeconds + 600;
      const { token } = await mintToken('completion', { sub: req.scenarioId }, completionRing(deps.completionSecret, req.scenarioId), { ttlSeconds: ttl });
      const spec = scenarioSpec({
        scenarioId: req.scenarioId,
        tenant: req.tenant,
        template: req.template,
        limits: req.limits,
        runtime: deps.runtime,
        env: [`ARBITER_SCENARIO_ID=${req.scenarioId}`, `ARBITER_COMPLETION_TOKEN=${token}`],
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
      // It ran and stopped before we recorded it: starting it again would hide that, so report it.
      return { containerName: name, containerId: info.Id, imageId: info.Image, adopted };
    }
    if (!info.State.Running) {
      try {
        await docker.getContainer(name).start();
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode !== 304) throw err;
      }
    }
    Context.current().log.info('container running', { scenarioId: req.scenarioId, containerName: name, adopted });
    return { containerName: name, containerId: info.Id, imageId: info.Image, adopted };
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
