// Turns "a scenario container stopped on its own" into a signal to its workflow. One Docker event
// stream per host replaces a long-running watch activity per scenario; a reconciliation pass at
// start (and after every reconnect) covers events missed while the monitor was down.
import type Docker from 'dockerode';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { LABELS } from '../activities/container-spec.ts';
import { containerExitedSignal } from '../contract/scenario.ts';

const RECONNECT_DELAY_MS = 2_000;

interface DockerEvent { Type?: string; Action?: string; Actor?: { Attributes?: Record<string, string> } }

export interface ContainerMonitor { stop(): Promise<void> }

export function startContainerMonitor(deps: { docker: Docker; client: Client; log: Pick<Logger, 'info' | 'warn'> }): ContainerMonitor {
  const { docker, client, log } = deps;
  const scenarioLabels = [`${LABELS.managed}=true`, `${LABELS.role}=scenario`];
  let stopped = false;
  let stream: NodeJS.ReadableStream | undefined;
  let retry: NodeJS.Timeout | undefined;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => { done = resolve; });

  async function signal(scenarioId: string, containerName: string, exitCode: number) {
    try {
      await client.workflow.getHandle(scenarioId).signal(containerExitedSignal, { containerName, exitCode });
      log.info({ scenarioId, containerName, exitCode }, 'container exited: workflow signalled');
    } catch (err) {
      // The workflow already ended (it stopped the container itself): nothing to tell it.
      if (!(err instanceof WorkflowNotFoundError)) log.warn({ scenarioId, err: (err as Error).message }, 'could not signal container exit');
    }
  }

  async function reconcile() {
    const exited = await docker.listContainers({ all: true, filters: { label: scenarioLabels, status: ['exited', 'dead'] } });
    for (const c of exited) {
      const scenarioId = c.Labels[LABELS.scenario];
      const exitCode = Number(/\((\d+)\)/.exec(c.Status)?.[1] ?? -1);
      if (scenarioId) await signal(scenarioId, (c.Names[0] ?? '').replace(/^\//, ''), exitCode);
    }
  }

  async function connect() {
    if (stopped) return;
    try {
      stream = await docker.getEvents({ filters: { type: ['container'], event: ['die'], label: scenarioLabels } });
      await reconcile();
      let buffered = '';
      stream.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (!line.trim()) continue;
          const ev = JSON.parse(line) as DockerEvent;
          const attrs = ev.Actor?.Attributes ?? {};
          const scenarioId = attrs[LABELS.scenario];
          if (scenarioId) void signal(scenarioId, attrs.name ?? '', Number(attrs.exitCode ?? -1));
        }
      });
      stream.on('end', scheduleReconnect);
      stream.on('error', scheduleReconnect);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'docker event stream unavailable; retrying');
      scheduleReconnect();
    }
  }

  function scheduleReconnect() {
    stream?.removeAllListeners();
    stream = undefined;
    if (stopped) return done();
    clearTimeout(retry);
    retry = setTimeout(() => void connect(), RECONNECT_DELAY_MS);
  }

  void connect();
  return {
    async stop() {
      stopped = true;
      clearTimeout(retry);
      if (stream) {
        (stream as unknown as { destroy?: () => void }).destroy?.();
        stream.removeAllListeners();
      }
      done();
      await finished;
    },
  };
}
