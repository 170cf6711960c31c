// Builders for the two kinds of worker, shared by the entry points and the tests so both run
// exactly the same wiring.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { startContainerMonitor } from './container-monitor.ts';
import { startHostReporter } from './host-report.ts';
import { reconcileHost } from '../activities/reconcile-containers.ts';
import { createPoolKeeper, type PoolKeeper } from './pool-keeper.ts';
import { buildAccessServer, endOrphanTerminals, listenAccessServer } from './access-server.ts';
import { AccessRegistry } from '../infra/access-registry.ts';
import { Removals } from '../infra/removals.ts';
import { activityInterceptors } from './interceptors.ts';
import type { Config } from '../infra/config.ts';
import type { KeyStore, Signer } from '../infra/keys.ts';
import { openKeyStore, publishKeys } from '../infra/signer.ts';
import { openArtifactStore } from '../infra/artifact-store.ts';
import { loadPlans } from '../infra/plans.ts';
import { DEFAULT_TEMPLATES_DIR } from '../infra/template.ts';
import { createHostActivities, createMainActivities } from '../activities/index.ts';
import { openPolicy } from '../infra/policy/wasm-engine.ts';
import { hostTaskQueue, MAIN_TASK_QUEUE } from '../contract/queues.ts';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
/** Bundled with the workflows: correlation id propagation, log attributes, activity summaries. */
export const WORKFLOW_INTERCEPTOR_MODULES = [fileURLToPath(new URL('../workflows/interceptors.ts', import.meta.url))];

/**
 * Evaluated once per worker thread and shared by every workflow, instead of once per workflow
 * created: the worker reuses one V8 context and evaluates each workflow's own modules again for
 * it. Only stateless modules belong here. The completion digest's imports (@noble/hashes' SHA-2
 * module builds SHA-512's 64-bit constants from BigInts as it loads) were three quarters of a
 * workflow's module evaluation, which every scenario's admission task paid (README, issue 15).
 * Our module, not the library's: the bundler drops a bare import of a package marked free of
 * side effects.
 */
export const WORKFLOW_PRELOAD_MODULES = [fileURLToPath(new URL('../lib/completion-digest.ts', import.meta.url))];

/** The workflow bundle with Arbiter's workflow interceptors: use it for prebuilt and test bundles. */
export function bundleWorkflows(logger?: Parameters<typeof bundleWorkflowCode>[0]['logger']): Promise<{ code: string }> {
  return bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    preloadModules: WORKFLOW_PRELOAD_MODULES,
    ...(logger ? { logger } : {}),
  });
}

/**
 * A given or prebuilt bundle when there is one (tests, production), else bundle the sources at
 * start (dev). `prebuilt` is config.workflowBundle: DEFAULT_WORKFLOW_BUNDLE, or the file
 * ARBITER_WORKFLOW_BUNDLE names (which loadConfig has checked exists).
 */
function workflowSource(prebuilt: string, given?: { code: string }): Pick<WorkerOptions, 'workflowsPath' | 'workflowBundle' | 'bundlerOptions' | 'interceptors'> {
  const activity = [activityInterceptors];
  if (given) return { workflowBundle: given, interceptors: { activity } };
  if (existsSync(prebuilt)) return { workflowBundle: { code: readFileSync(prebuilt, 'utf8') }, interceptors: { activity } };
  return { workflowsPath: WORKFLOWS_PATH, bundlerOptions: { preloadModules: WORKFLOW_PRELOAD_MODULES }, interceptors: { activity, workflowModules: WORKFLOW_INTERCEPTOR_MODULES } };
}

export interface MainWorkerOptions {
  config: Config;
  connection: NativeConnection;
  /** for activities that look at other workflows (tenant entitlements, lease holders) */
  client: Client;
  hostIds?: string[];
  templatesDir?: string;
  workflowBundle?: { code: string };
  /** the key store opened already and its current signer (default: opened here, as config says) */
  signing?: { store: KeyStore; signer: Signer };
  extra?: Partial<WorkerOptions>;
}

export async function createMainWorker(opts: MainWorkerOptions): Promise<{ worker: Worker; policySha256: string; keyId: string }> {
  const { config } = opts;
  // The Wasm bundle, or the OPA server at OPA_URL; either way pinned by ARBITER_POLICY_SHA256.
  const policy = await openPolicy({ dir: config.policyDir, expectedSha256: config.policySha256, remote: config.opa });
  const keyStore = opts.signing?.store ?? await openKeyStore(config);
  const signer = opts.signing?.signer ?? await keyStore.signer();
  const store = openArtifactStore(config);
  await publishKeys(keyStore, config, store);
  const activities = createMainActivities({
    store,
    plans: loadPlans(),
    templatesDir: opts.templatesDir ?? DEFAULT_TEMPLATES_DIR,
    policy,
    signer,
    storageDir: config.storageDir,
    temporal: opts.client,
    hostIds: opts.hostIds ?? config.hosts,
  });
  const worker = await Worker.create({
    connection: opts.connection,
    namespace: config.temporalNamespace,
    taskQueue: MAIN_TASK_QUEUE,
    ...workflowSource(config.workflowBundle, opts.workflowBundle),
    activities,
    // Most scenarios sit for minutes waiting for their completion, and a cached workflow costs
    // its isolate's memory all that time. The SDK's default cache grows with the heap, so the
    // worker's RSS grew with the number of open scenarios (bench/open-scenarios.ts); bounded, a
    // sleeping scenario is evicted and replayed from its short history when it wakes.
    maxCachedWorkflows: config.workflowCacheSize,
    ...opts.extra,
  });
  return { worker, policySha256: policy.sha256, keyId: signer.keyId };
}

export interface HostWorkerOptions {
  config: Config;
  connection: NativeConnection;
  /** used by the container monitor to signal workflows, and by the reconciler to look them up */
  client: Client;
  docker?: Docker;
  log?: Pick<Logger, 'info' | 'warn'>;
  /** the templates whose pools this host keeps (default: the repository's) */
  templatesDir?: string;
  /** how often the pool keeper looks again (default POOL_TICK_MS) */
  poolTickMs?: number;
  extra?: Partial<WorkerOptions>;
}

/**
 * The container worker of one Docker host and its monitor. `runUntil` runs both and stops the
 * monitor when the worker stops, so callers cannot leave a dangling event stream.
 */
export interface HostWorker {
  worker: Worker;
  /** the host's warm pools, kept while the worker runs */
  pools: PoolKeeper;
  run(): Promise<void>;
  runUntil<R>(fn: Promise<R> | (() => Promise<R>)): Promise<R>;
}

export async function createHostWorker(opts: HostWorkerOptions): Promise<HostWorker> {
  const { config } = opts;
  const docker = opts.docker ?? new Docker({ socketPath: config.dockerSocket });
  const access = new AccessRegistry(config.storageDir);
  const removals = new Removals();
  // Evidence, scores and this host's reports go there; the local folder keeps only working copies.
  const store = openArtifactStore(config);
  const log = opts.log ?? { info: () => undefined, warn: (...args: unknown[]) => console.warn(...args) };
  const pools = createPoolKeeper({
    docker,
    hostId: config.hostId,
    templatesDir: opts.templatesDir ?? DEFAULT_TEMPLATES_DIR,
    policyDir: config.policyDir,
    policySha256: config.policySha256,
    overrides: config.pools,
    off: config.poolsOff,
    capacity: config.hostCapacity,
    log,
    ...(opts.poolTickMs ? { tickMs: opts.poolTickMs } : {}),
  });
  const worker = await Worker.create({
    connection: opts.connection,
    namespace: config.temporalNamespace,
    taskQueue: hostTaskQueue(config.hostId),
    activities: createHostActivities({
      docker,
      store,
      storageDir: config.storageDir,
      runtime: config.runtime,
      hostId: config.hostId,
      temporal: opts.client,
      access,
      removals,
      pools,
    }),
    // Host activities heartbeat every few seconds; sending them that often (instead of at 80% of
    // the heartbeat timeout) leaves a wide margin before a busy but live worker looks dead.
    maxHeartbeatThrottleInterval: '3 seconds',
    interceptors: { activity: [activityInterceptors] },
    ...opts.extra,
  });
  const relaySecret = config.secrets.RELAY_HMAC_SECRET;
  if (!relaySecret) log.warn('RELAY_HMAC_SECRET is not set: this host serves no subject access (exec, files, terminal)');
  const withMonitor = async <R>(body: () => Promise<R>): Promise<R> => {
    const monitor = startContainerMonitor({ docker, client: opts.client, log, access, removals, onPooledExit: () => pools.trigger('die') });
    pools.start();
    // What a lost run of this host left (its scenarios ended host_lost while it was away) goes now,
    // not at the reconciler's next scheduled pass. Not awaited: an engine still starting must not
    // keep the worker from polling.
    void reconcileHost({ docker, temporal: opts.client, hostId: config.hostId, pools }, { heartbeat: () => undefined, log: (msg, data) => log.info(data, msg) })
      .then((r) => { if (r.removed.length > 0) log.info({ removed: r.removed.map((c) => c.containerName), kept: r.kept }, 'removed what an earlier run of this host left'); })
      .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'could not reconcile this host\'s containers at start (the scheduled reconciler will)'));
    const reporter = startHostReporter({ docker, store, hostId: config.hostId, capacity: config.hostCapacity, log });
    // A predecessor that died left its sessions' shells running, unreachable and unrecorded; an
    // engine that does not answer yet must not keep this host from starting.
    if (relaySecret) await endOrphanTerminals(docker, config.hostId, log).catch((err: unknown) => log.warn({ err }, 'could not look for terminal shells left by a previous run'));
    // Subject access is relayed here by the API (workers/access-server.ts); it lives as long as the worker.
    const server = relaySecret
      ? await listenAccessServer(await buildAccessServer({ docker, registry: access, hostId: config.hostId, relaySecret, transferIdleMs: config.access.idleSeconds * 1000, log: { info: log.info.bind(log), warn: log.warn.bind(log), error: log.warn.bind(log) } }), config.access.listen)
      : undefined;
    if (server) log.info({ address: server.address }, 'subject access server listening');
    try {
      return await body();
    } finally {
      reporter.stop();
      await server?.close();
      await monitor.stop();
      await pools.stop();
    }
  };
  return {
    worker,
    pools,
    run: () => withMonitor(() => worker.run()),
    runUntil: (fn) => withMonitor(() => worker.runUntil(fn)),
  };
}
