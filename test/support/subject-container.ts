// A hello scenario container whose subject runs a given script instead of the greeting, started
// on the real engine with the hardened scenario spec, for tests of what is read from inside it.
import { randomUUID } from 'node:crypto';
import type Docker from 'dockerode';
import { scenarioSpec } from '../../activities/container-spec.ts';
import { loadTemplate } from '../../infra/template.ts';
import { docker, waitFor } from './harness.ts';

/** Started, and past the line `ready` in its log (the script prints it once it has set up). */
export async function startSubjectContainer(opts: { name: string; script: string; ready: string; env?: string[] }): Promise<Docker.Container> {
  const hello = loadTemplate({ id: 'hello', version: '1' });
  const template = { ...hello, image: { ...hello.image, command: ['/bin/sh', '-c', opts.script] } };
  const container = await docker.createContainer(scenarioSpec({
    scenarioId: `scn-${opts.name}-${randomUUID()}`,
    tenant: opts.name,
    template,
    limits: hello.limits,
    // A host id no worker has: no reconciler of another test judges this container.
    hostId: `${opts.name}-${randomUUID().slice(0, 8)}`,
    env: opts.env ?? [],
  }));
  await container.start();
  await waitFor(`the subject's "${opts.ready}"`, async () => {
    const logs = await container.logs({ stdout: true, stderr: true, follow: false });
    return logs.toString('latin1').includes(opts.ready) ? true : undefined;
  }, 30_000);
  return container;
}
