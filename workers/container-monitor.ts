// Turns "a scenario container stopped on its own" into a signal to its workflow. One Docker event
// stream per host replaces a long-running watch activity per scenario; a reconciliation pass at
// start (and after every reconnect) covers events missed while the monitor was down.
//
// The kernel's OOM killer shows twice: as the engine's `oom` event (any process of the container's
// cgroup, recorded in the scenario's transcript, since the subject's own command may be the one
// killed and the scenario goes on), and as State.OOMKilled on the container that died of it (the
// workflow's environment_reset names it; see diedOfOomKill for why its exit code is checked too).
import type Docker from 'dockerode';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { diedOfOomKill, LABELS } from '../activities/container-spec.ts';
import { containerExitedSignal } from '../contract/scenario.ts';
import { poolStateOf } from '../activities/pool/pool-logic.ts';
import type { AccessRegistry } from '../infra/access-registry.ts';
import type { Removals } from '../infra/removals.ts';

const RECONNECT_DELAY_MS = 2_000;

interface DockerEvent { Type?: string; Action?: string; Actor?: { Attributes?: Record<string, string> } }

export interface ContainerMonitor { stop(): Promise<void> }

/** The containers whose exit ends their scenario's wait: its services and its namespace holder. */
const WATCHED_ROLES = new Set(['scenario', 'holder']);

/**
 * The scenario a container serves: its label, or, claimed from a warm pool (made before any
 * scenario, so unlabelled), its name. Undefined for a pooled container (`onPooledExit` hears of it).
 */
function scenarioOf(name: string, labels: Record<string, string>): string | undefined {
  if (labels[LABELS.scenario]) return labels[LABELS.scenario];
  const pool = poolStateOf(name, labels);
  return pool.kind === 'claimed' ? pool.scenarioId : undefined;
}

export function startContainerMonitor(deps: { docker: Docker; client: Client; log: Pick<Logger, 'info' | 'warn'>; access?: AccessRegistry; removals?: Removals; onPooledExit?: (containerName: string) => void }): ContainerMonitor {
  const { docker, client, log } = deps;
  const managed = [`${LABELS.managed}=true`];
  let stopped = false;
  let stream: NodeJS.ReadableStream | undefined;
  let retry: NodeJS.Timeout | undefined;
  let connections = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => { done = resolve; });

  /** Whether the kernel OOM-killed the container's main process (read after its death). */
  async function oomKilled(containerName: string): Promise<boolean> {
    try {
      // Not State.OOMKilled alone: an earlier OOM kill of another process (the subject's own
      // command) sets it too, and the service would be said OOM-killed whatever then stopped it.
      return diedOfOomKill((await docker.getContainer(containerName).inspect()).State);
    } catch {
      return false;
    }
  }

  async function signal(scenarioId: string, containerName: string, exitCode: number) {
    // This host stopped it itself (teardown), after its scenario stopped waiting for it.
    if (deps.removals?.has(containerName)) return;
    try {
      const oom = await oomKilled(containerName);
      await client.workflow.getHandle(scenarioId).signal(containerExitedSignal, { containerName, exitCode, oomKilled: oom });
      log.info({ scenarioId, containerName, exitCode, oomKilled: oom }, 'container exited: workflow signalled');
    } catch (err) {
      // The workflow already ended (it stopped the container itself): nothing to tell it.
      if (!(err instanceof WorkflowNotFoundError)) log.warn({ scenarioId, err: (err as Error).message }, 'could not signal container exit');
    }
  }

  /** An OOM kill inside a scenario's service, appended to its transcript while it is open. */
  async function recordOom(scenarioId: string, attrs: Record<string, string>) {
    const access = deps.access?.of(scenarioId);
    if (!access || access.log.isClosed()) return;
    try {
      await access.log.append({
        event: 'oom', actor: 'container-host', time: new Date(), streams: [], capBytes: 0,
        data: { service: attrs[LABELS.service] ?? 'main', containerName: attrs.name ?? '' },
      });
      log.info({ scenarioId, containerName: attrs.name }, 'OOM kill in a scenario: recorded in its transcript');
    } catch (err) {
      log.warn({ scenarioId, err: (err as Error).message }, 'could not record an OOM kill');
    }
  }

  async function reconcile() {
    const exited = await docker.listContainers({ all: true, filters: { label: managed, status: ['exited', 'dead'] } });
    for (const c of exited) {
      if (!WATCHED_ROLES.has(c.Labels[LABELS.role] ?? '')) continue;
      const name = (c.Names[0] ?? '').replace(/^\//, '');
      const scenarioId = scenarioOf(name, c.Labels);
      const exitCode = Number(/\((\d+)\)/.exec(c.Status)?.[1] ?? -1);
      if (scenarioId) await signal(scenarioId, name, exitCode);
    }
  }

  async function connect() {
    if (stopped) return;
    try {
      stream = await docker.getEvents({ filters: { type: ['container'], event: ['die', 'oom'], label: managed } });
      await reconcile();
      // Said at every (re)connection: after an engine restart, the line that says exits are heard again.
      log.info({ connection: ++connections }, 'container monitor: following the engine\'s container events');
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
          if (!WATCHED_ROLES.has(attrs[LABELS.role] ?? '')) continue;
          const scenarioId = scenarioOf(attrs.name ?? '', attrs);
          if (!scenarioId) {
            if (ev.Action === 'die' && poolStateOf(attrs.name ?? '', attrs).kind === 'pooled') deps.onPooledExit?.(attrs.name ?? '');
            continue;
          }
          if (ev.Action === 'oom') void recordOom(scenarioId, attrs);
          else void signal(scenarioId, attrs.name ?? '', Number(attrs.exitCode ?? -1));
        }
      });
      // An engine that stops ends the stream, or cuts it (error, or close alone): each reconnects once.
      stream.on('end', scheduleReconnect);
      stream.on('error', scheduleReconnect);
      stream.on('close', scheduleReconnect);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'docker event stream unavailable; retrying');
      scheduleReconnect();
    }
  }

  function scheduleReconnect() {
    const old = stream;
    stream = undefined;
    if (old) {
      old.removeAllListeners();
      // Destroyed, not left open (the reconciliation after connecting may have failed); whatever
      // its connection still says on its way down is ignored, not thrown.
      old.on('error', () => undefined);
      (old as unknown as { destroy?: () => void }).destroy?.();
    }
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
