// The whole Arbiter stack for end-to-end tests, on real components: the Temporal dev server
// (the `temporal` CLI binary), both workers in-process, the Docker engine, the OPA Wasm bundle
// and the API listening on 127.0.0.1. Every scenario a test spawns is cancelled and its
// containers are gone before the stack stops.
//
// ARBITER_E2E_SHAPE=cluster runs the same tests on the production shape instead
// (test/support/cluster.ts): the Temporal server on PostgreSQL that `scripts/cluster.sh up`
// started (a namespace of this stack's own on it), two container hosts, each a host worker on
// its own Docker engine (the main worker spreads scenarios over both), and the cluster's S3
// artifact store (a bucket of this stack's own), which every worker and the API read and write.
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { buildApp } from '../../api/app.ts';
import { readinessChecks } from '../../api/readiness.ts';
import { loadPolicy } from '../../infra/policy/wasm-engine.ts';
import { loadPlans } from '../../infra/plans.ts';
import { DEFAULT_TEMPLATES_DIR } from '../../infra/template.ts';
import { mintToken, type ClaimsOf } from '../../infra/tokens.ts';
import { bundleWorkflows, createHostWorker, createMainWorker, type HostWorker } from '../../workers/workers.ts';
import { SCENARIO_WORKFLOW_TYPE, SEARCH_ATTRIBUTES } from '../../contract/queues.ts';
import { containersOf, docker, REPO, testConfig, tools, waitFor, type TestConfig } from './harness.ts';
import { clusterEnv, createTestBucket, createTestNamespace, deleteTestNamespace, e2eShape } from './cluster.ts';
import { dynamicConfigFlags } from '../../scripts/dev-server.ts';

export interface Response { status: number; headers: Headers; json: Record<string, unknown> | undefined }

export interface Stack {
  env: TestWorkflowEnvironment;
  t: TestConfig;
  /** the main worker (workflows, admission and verdict activities) */
  mainWorker: Worker;
  /** the container worker (its warm pools: host.pools); in the cluster shape, the first host's */
  host: HostWorker;
  /** every container host: one in the dev shape, two in the cluster shape (each on its own engine) */
  hosts: Array<{ hostId: string; dockerSocket: string; worker: HostWorker }>;
  /** stops the main worker before the stack, as if it had died; the container worker runs on */
  stopMainWorker(): Promise<void>;
  app: FastifyInstance;
  base: string;
  call(method: string, path: string, token?: string, body?: unknown, opts?: { raw?: string; headers?: Record<string, string> }): Promise<Response>;
  et(sub?: string, tenant?: string, plan?: string): Promise<string>;
  sat(etToken: string, template?: string, track?: string): Promise<string>;
  satFor(claims: Partial<ClaimsOf<'sat'>>): Promise<string>;
  operator(sub?: string): Promise<string>;
  /** the scenario's completion token, obtained the way a scenario host's controller does (operator token, API) */
  completionToken(scenarioId: string, operatorSub?: string): Promise<string>;
  workflowCount(type?: string): Promise<number>;
  stop(): Promise<void>;
}

let runtimeInstalled = false;

export interface StackOptions {
  env?: Record<string, string>;
  quotaTiming?: { reapIntervalSeconds: number; startGraceSeconds: number };
  /** the templates the API and the main worker know (default: the repository's) */
  templatesDir?: string;
  /** the time the API's retention sweep judges deadlines by (default: the wall clock) */
  retentionClock?: () => Promise<number>;
  /** how often the hosts' pool keepers look on their own (default: workers/pool-keeper.ts's) */
  poolTickMs?: number;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  if (!runtimeInstalled) {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    runtimeInstalled = true;
  }
  const shape = e2eShape();
  const cluster = shape === 'cluster' ? clusterEnv() : undefined;
  const namespace = cluster ? await createTestNamespace(cluster.temporalAddress) : undefined;
  const bucket = cluster ? await createTestBucket(cluster, namespace!) : undefined;
  const env = cluster
    ? await TestWorkflowEnvironment.createFromExistingServer({ address: cluster.temporalAddress, namespace: namespace! })
    : await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: tools().TEMPORAL_BIN },
        ip: '127.0.0.1',
        extraArgs: [...dynamicConfigFlags(), ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`])],
      },
    });
  // In the cluster shape: two hosts, each on one of the cluster's engines; ids of this stack's own,
  // so that nothing a host reconciles on its engine belongs to another stack.
  const hostIds = cluster ? ['a', 'b'].map((h) => `${namespace!.slice(4, 12)}-${h}`) : [];
  const t = await testConfig({
    ...(cluster ? {
      TEMPORAL_ADDRESS: cluster.temporalAddress,
      TEMPORAL_NAMESPACE: namespace!,
      ARBITER_HOST_ID: hostIds[0]!,
      ARBITER_HOSTS: hostIds.join(','),
      DOCKER_SOCKET: cluster.engines[0]!.socket,
      ...bucket!.env,
    } : {}),
    ...opts.env,
  });
  // The production bundle: with Arbiter's workflow interceptors (correlation id, activity summaries).
  const bundle = await bundleWorkflows(new DefaultLogger('WARN'));
  const templatesDir = opts.templatesDir ?? DEFAULT_TEMPLATES_DIR;
  const { worker: main }: { worker: Worker } = await createMainWorker({ config: t.config, connection: env.nativeConnection, client: env.client, workflowBundle: bundle, templatesDir });
  // The second host differs from the first in its id, its engine and its access socket only.
  const hostConfigs = cluster
    ? hostIds.map((hostId, i) => Object.freeze({
      ...t.config,
      hostId,
      dockerSocket: cluster.engines[i]!.socket,
      access: { ...t.config.access, listen: `unix:${join(t.config.access.socketDir, `${hostId}.sock`)}` },
    }))
    : [t.config];
  const hosts = await Promise.all(hostConfigs.map(async (config) => ({
    hostId: config.hostId,
    dockerSocket: config.dockerSocket,
    worker: await createHostWorker({ config, connection: env.nativeConnection, client: env.client, templatesDir, ...(opts.poolTickMs ? { poolTickMs: opts.poolTickMs } : {}) }),
  })));
  const host = hosts[0]!.worker;
  let stopWorkers: () => void = () => undefined;
  const stopSignal = new Promise<void>((resolve) => { stopWorkers = resolve; });
  let mainStoppedEarly = false;
  const mainDone = main.runUntil(stopSignal).catch((err: unknown) => {
    if (!mainStoppedEarly) throw err;
  });
  const workersDone = Promise.all([mainDone, ...hosts.map((h) => h.worker.runUntil(stopSignal))]);
  const app = await buildApp({
    config: t.config,
    temporal: env.client,
    plans: loadPlans(),
    templatesDir,
    checks: readinessChecks({ config: t.config, temporal: env.connection, docker, policy: await loadPolicy(join(REPO, '.data', 'policy')) }),
    ...(opts.quotaTiming ? { quotaTiming: opts.quotaTiming } : {}),
    ...(opts.retentionClock ? { retentionClock: opts.retentionClock } : {}),
    httpRateLimitPerMinute: t.config.httpRateLimitPerMinute,
  });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const spawned = new Set<string>();

  const call: Stack['call'] = async (method, path, token, body, o = {}) => {
    const headers: Record<string, string> = { ...o.headers };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined || o.raw !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${base}${path}`, { method, headers, ...(o.raw !== undefined ? { body: o.raw } : body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const text = await res.text();
    const json = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    if (path === '/api/spawn' && res.status === 202) spawned.add(json!.scenarioId as string);
    return { status: res.status, headers: res.headers, json };
  };
  const secrets = t.config.secrets;
  const stack: Stack = {
    env, t, app, base, call, mainWorker: main, host, hosts,
    stopMainWorker: async () => {
      mainStoppedEarly = true;
      main.shutdown();
      await mainDone;
    },
    et: async (sub = 'alice', tenant = 'acme', plan = 'free') =>
      (await mintToken('et', { sub, tenant, plan }, secrets.ET_HMAC_SECRET!, { ttlSeconds: 600 })).token,
    sat: async (etToken, template = 'hello', track = 'intro') => {
      const r = await call('POST', '/api/sat', etToken, { template, track });
      if (r.status !== 201) throw new Error(`SAT refused: ${r.status} ${JSON.stringify(r.json)}`);
      return r.json!.sat as string;
    },
    satFor: async (claims) => (await mintToken('sat', {
      sub: 'alice', tenant: 'acme', plan: 'free', template: 'hello', template_version: '1', track: 'intro', retention_days: 7, jti: randomUUID(), ...claims,
    }, secrets.SAT_HMAC_SECRET!, { ttlSeconds: 300 })).token,
    operator: async (sub = 'ops') => (await mintToken('operator', { sub, role: 'operator' }, secrets.OPERATOR_HMAC_SECRET!, { ttlSeconds: 600 })).token,
    completionToken: async (scenarioId, operatorSub = 'host-controller') => {
      const r = await call('POST', `/api/scenarios/${scenarioId}/completion-token`, await stack.operator(operatorSub));
      if (r.status !== 200) throw new Error(`completion token refused: ${r.status} ${JSON.stringify(r.json)}`);
      return r.json!.token as string;
    },
    workflowCount: async (type = SCENARIO_WORKFLOW_TYPE) => {
      let n = 0;
      for await (const _ of env.client.workflow.list({ query: `WorkflowType = '${type}'` })) n++;
      return n;
    },
    stop: async () => {
      for (const id of spawned) {
        await env.client.workflow.getHandle(id).cancel().catch(() => undefined);
        await waitFor(`containers of ${id} removed`, async () => ((await containersOf(id)).length === 0 ? true : undefined), 30_000).catch(async () => {
          for (const c of await containersOf(id)) await docker.getContainer(c.Id).remove({ force: true });
        });
      }
      await app.close();
      stopWorkers();
      await workersDone;
      await env.teardown();
      // the server deletes the namespace's workflows in the background
      if (cluster && namespace) await deleteTestNamespace(cluster.temporalAddress, namespace).catch(() => undefined);
      await bucket?.remove();
      t.cleanup();
    },
  };
  return stack;
}
