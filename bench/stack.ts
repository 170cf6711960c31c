// The whole stack as separate processes, the way `npm run stack` runs it: the Temporal dev server
// (SQLite file), the main worker, the container worker and the API, all on 127.0.0.1 ports picked
// for this run, with fresh secrets, storage and keys in a temp dir. The bench talks to the API
// over loopback like any client; it has its own Temporal client only to wait for results.
//
// shape 'cluster' runs it as `npm run stack -- --cluster` does instead: on the Temporal server on
// PostgreSQL that `scripts/cluster.sh up` started (a namespace of this run's own), with two
// container workers, each on one of the cluster's engines; the CPU meter then counts the Temporal
// server, PostgreSQL (postmaster and backends) and both engines' daemons.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { DefaultLogger } from '@temporalio/worker';
import type { SecretRing } from '../infra/config.ts';
import { generateKey } from '../infra/keys.ts';
import { bundleWorkflows } from '../workers/workers.ts';
import { completionRing, mintToken } from '../infra/tokens.ts';
import { devServerFlags } from '../scripts/dev-server.ts';
import type { ScenarioState } from '../contract/scenario.ts';
import { LABELS } from '../activities/container-spec.ts';
import { CpuMeter } from './cpu.ts';
import { BENCH_LABEL, EngineEvents, removeLabelled } from './engine.ts';
import { freePort, startChild, stopChild, until, type Child } from './processes.ts';
import { processEntry, type ProcessBundle } from '../bin/cli-bundle.js';
import { clusterEnv, createTestBucket, createTestNamespace, deleteTestNamespace } from '../test/support/cluster.ts';

export const REPO = fileURLToPath(new URL('..', import.meta.url));
// RELAY_HMAC_SECRET: the API signs its relays to the container host's access server with it
// (subject access: exec, files, terminal); without it the host serves no access.
const SECRETS = ['ET_HMAC_SECRET', 'SAT_HMAC_SECRET', 'OPERATOR_HMAC_SECRET', 'COMPLETION_HMAC_SECRET', 'RELAY_HMAC_SECRET'] as const;

export interface HttpResponse { status: number; json: Record<string, unknown> | undefined }

export interface BenchStack {
  runId: string;
  base: string;
  hostId: string;
  docker: Docker;
  temporal: Client;
  events: EngineEvents;
  /** CPU seconds of the stack's processes, the engine's daemons and the bench */
  cpu: CpuMeter;
  /** temporal: the dev server this run started (absent in the cluster shape: cluster.sh's server is not the bench's) */
  children: { temporal?: Child; mainWorker: Child; containerWorker: Child; api: Child };
  /** the dev server's own metrics, as text (absent in the cluster shape, as `children.temporal` is) */
  temporalMetrics?: () => Promise<string>;
  shape: BenchShape;
  logsDir: string;
  /** the stack's ARBITER_STORAGE_DIR (results, claim records) */
  storageDir: string;
  /** where the container host's access server listens (a Unix socket the API relays to) */
  accessSocketDir: string;
  /** the Unix socket of this host's access server */
  accessSocket: string;
  /** a relay token as the API would sign it for one call to the host's access server (per-hop timing) */
  relayToken(scenarioId: string, act: 'exec' | 'files' | 'terminal', user: string): Promise<string>;
  call(method: string, path: string, token?: string, body?: unknown): Promise<HttpResponse>;
  /** an entitlement token; the enterprise plan by default, so quotas leave room for the load */
  et(sub: string, plan?: string): Promise<string>;
  /** a SAT from POST /api/sat and the scenario id it will spawn (template hello, track intro by default) */
  sat(et: string, template?: string, track?: string): Promise<{ sat: string; scenarioId: string }>;
  /** POST /api/spawn; like sat(), retried when entitlements could not be read (counted) */
  spawn(sat: string, scenarioId: string): Promise<void>;
  /** 503 entitlements_unavailable answers that sat() and spawn() retried, by route */
  retried: Record<string, number>;
  /** the completion token the scenario's host would obtain from the API (minted here from the same secret) */
  completionToken(scenarioId: string): Promise<string>;
  /** sends the completion, retrying while the workflow has not yet recorded that it runs */
  complete(scenarioId: string): Promise<void>;
  /** the workflow's final state (long-polls Temporal, no sleeps) */
  result(scenarioId: string): Promise<ScenarioState>;
  spawned: Set<string>;
  /** cancels every scenario still open and waits for each workflow to close */
  cancelAll(concurrency?: number): Promise<void>;
  /** stops everything and removes the run's folder, except its logs when `keepLogs` */
  stop(opts?: { keepLogs?: boolean }): Promise<void>;
}

/** The first line of a pidfile as a number, if it names a process. */
function pidIn(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function ring(secret: string): SecretRing {
  return { current: Buffer.from(secret, 'utf8'), previous: [] };
}

/** The environment every Arbiter process of this run gets: only what the bench decides. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    // Nothing from the caller's Arbiter or Temporal setup leaks into the bench's stack.
    if (/^(ARBITER_|TEMPORAL_|OPA_|WORKER_HTTP_)|_HMAC_SECRET|^SAT_SECRET$|^PORT$|^HOST$|^LOG_LEVEL$/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

export type BenchShape = 'dev' | 'cluster';

export async function startBenchStack(opts: { temporalBin: string; log: (line: string) => void; shape?: BenchShape }): Promise<BenchStack> {
  const shape = opts.shape ?? 'dev';
  const runId = randomBytes(4).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), `arbiter-bench-${runId}-`));
  const logsDir = join(dir, 'logs');
  mkdirSync(logsDir);
  const hostId = `bench-${runId}`;
  const cluster = shape === 'cluster' ? clusterEnv() : undefined;
  // In the cluster shape: two hosts, the first of them `hostId` (the one the access bench would use)
  const hosts = cluster ? [hostId, `${hostId}-b`].map((id, i) => ({ id, socket: cluster.engines[i]!.socket })) : [{ id: hostId, socket: process.env.DOCKER_SOCKET ?? '/var/run/docker.sock' }];
  const secrets = Object.fromEntries(SECRETS.map((n) => [n, randomBytes(32).toString('base64url')])) as Record<(typeof SECRETS)[number], string>;
  const keysDir = join(dir, 'keys');
  const accessSocketDir = join(dir, 'access');
  await generateKey(keysDir);
  const [grpc, http, metrics, apiPort, mainOps, containerOps] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort(), freePort()]);
  const temporalAddress = cluster ? cluster.temporalAddress : `127.0.0.1:${grpc}`;
  const engines = hosts.map((h) => new Docker({ socketPath: h.socket }));
  const docker = engines[0]!;
  const extraOps = await Promise.all(hosts.slice(1).map(() => freePort()));

  const started: Child[] = [];
  let temporal: Client | undefined;
  let events: EngineEvents | undefined;
  let namespace: string | undefined;
  let bucket: Awaited<ReturnType<typeof createTestBucket>> | undefined;
  const teardown = async () => {
    events?.close();
    await temporal?.connection.close().catch(() => undefined);
    for (const c of [...started].reverse()) await stopChild(c);
    for (const [i, h] of hosts.entries()) await removeLabelled(engines[i]!, LABELS.host, h.id);
    await removeLabelled(docker, BENCH_LABEL, runId);
    if (cluster && namespace) await deleteTestNamespace(cluster.temporalAddress, namespace).catch(() => undefined);
    await bucket?.remove().catch(() => undefined);
  };

  try {
    opts.log(`starting the stack (${shape} shape, run ${runId}, logs in ${logsDir})`);
    let server: Child | undefined;
    if (cluster) {
      namespace = await createTestNamespace(cluster.temporalAddress, 'bench');
      // Artifacts in the cluster's S3 store, as the cluster shape runs them: a bucket of this run's own.
      bucket = await createTestBucket(cluster, namespace);
    } else {
      server = startChild('temporal', opts.temporalBin, [
        'server', 'start-dev', '--ip', '127.0.0.1', '--port', String(grpc), '--http-port', String(http), '--metrics-port', String(metrics),
        '--headless', '--db-filename', join(dir, 'temporal.db'), '--log-level', 'warn',
        // BENCH_SQLITE_PRAGMAS replaces the stack's pragmas (a diagnostic; "" for SQLite's defaults)
        ...devServerFlags(process.env.BENCH_SQLITE_PRAGMAS?.split(' ').filter(Boolean)),
      ], { cwd: dir, env: childEnv({}), log: join(logsDir, 'temporal.log') });
      started.push(server);
      const devServer = server;
      await until('the Temporal dev server', async () => {
        const c = await Connection.connect({ address: temporalAddress, connectTimeout: 1000 });
        await c.close();
        return true;
      }, { timeoutMs: 60_000, child: devServer });
    }
    temporal = new Client({ connection: await Connection.connect({ address: temporalAddress }), ...(namespace ? { namespace } : {}) });

    const common = {
      ARBITER_MODE: 'production',
      ...secrets,
      ARBITER_STORAGE_DIR: join(dir, 'storage'),
      ARBITER_KEYS_DIR: keysDir,
      ARBITER_HOST_ID: hostId,
      TEMPORAL_ADDRESS: temporalAddress,
      ...(namespace ? { TEMPORAL_NAMESPACE: namespace } : {}),
      ...bucket?.env,
      ARBITER_HOSTS: hosts.map((h) => h.id).join(','),
      DOCKER_SOCKET: hosts[0]!.socket,
      LOG_LEVEL: 'info',
      // The limiter still runs on every request; its cap is raised because the whole bench is
      // one client on 127.0.0.1.
      ARBITER_HTTP_RATE_LIMIT: '100000000',
      // The container worker's access server listens here and the API relays to it.
      ARBITER_ACCESS_SOCKET_DIR: accessSocketDir,
    };
    // As deploy/Dockerfile runs it: the main worker loads a bundle built beforehand instead of
    // bundling the workflow sources at start (which also leaves webpack's memory in its RSS).
    const bundle = join(dir, 'workflow-bundle.js');
    writeFileSync(bundle, (await bundleWorkflows(new DefaultLogger('WARN'))).code);
    // BENCH_CPU_PROF=<dir>: each Arbiter process writes a V8 CPU profile there when it stops.
    const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
    // The bundles (scripts/build-workers.ts) as scripts/stack.sh runs them, when they match the
    // sources; else the sources through tsx, whose loader adds about 40 MB to each process.
    // BENCH_MAIN_NODE_FLAGS: node flags for the main worker only (e.g. "--max-semi-space-size=4").
    const entry = (name: ProcessBundle, flags: string[] = []) => {
      // The bench's own environment reaches the children only through childEnv (ARBITER_SOURCES=1: the sources).
      const e = processEntry(REPO, name, { ARBITER_SOURCES: process.env.ARBITER_SOURCES });
      opts.log(e.bundled ? `${name}: ${e.args.join(' ')}` : `${name}: sources through tsx (${e.reason}; npm run build:workers)`);
      // flags last before the script, so that they win over the process's own (PROCESS_BUNDLES)
      return { args: [...profile, ...e.args.slice(0, -1), ...flags, e.args.at(-1)!], env: e.env };
    };
    // BENCH_MAIN_ENV: variables for the main worker only (e.g. "ARBITER_WORKFLOW_CACHE_SIZE=50").
    const mainFlags = process.env.BENCH_MAIN_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
    const mainEnv = Object.fromEntries((process.env.BENCH_MAIN_ENV?.split(' ').filter(Boolean) ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    if (mainFlags.length || Object.keys(mainEnv).length) opts.log(`main worker: ${[...mainFlags, ...Object.entries(mainEnv).map(([k, v]) => `${k}=${v}`)].join(' ')}`);
    const main = entry('main-worker', mainFlags);
    const mainWorker = startChild('main worker', process.execPath, main.args, {
      cwd: REPO, log: join(logsDir, 'worker-main.log'),
      env: childEnv({ ...main.env, ...common, WORKER_HTTP_PORT: String(mainOps), TEMPORAL_METRICS_ADDRESS: 'off', ARBITER_WORKFLOW_BUNDLE: bundle, ...mainEnv }),
    });
    started.push(mainWorker);
    const container = entry('container-worker');
    const containerWorkers = hosts.map((h, i) => {
      const w = startChild(i === 0 ? 'container worker' : `container worker ${h.id}`, process.execPath, container.args, {
        cwd: REPO, log: join(logsDir, i === 0 ? 'worker-container.log' : `worker-container-${h.id}.log`),
        env: childEnv({ ...container.env, ...common, ARBITER_HOST_ID: h.id, DOCKER_SOCKET: h.socket, WORKER_HTTP_PORT: String(i === 0 ? containerOps : extraOps[i - 1]!), TEMPORAL_METRICS_ADDRESS: 'off' }),
      });
      started.push(w);
      return w;
    });
    const containerWorker = containerWorkers[0]!;
    const apiEntry = entry('api-server');
    const api = startChild('api', process.execPath, apiEntry.args, {
      cwd: REPO, log: join(logsDir, 'api.log'),
      env: childEnv({ ...apiEntry.env, ...common, PORT: String(apiPort), HOST: '127.0.0.1' }),
    });
    started.push(api);
    const ready = (url: string) => async () => (await fetch(url)).status === 200;
    const base = `http://127.0.0.1:${apiPort}`;
    await until('the main worker', ready(`http://127.0.0.1:${mainOps}/readyz`), { timeoutMs: 180_000, child: mainWorker });
    for (const [i, w] of containerWorkers.entries()) {
      await until(`the container worker of ${hosts[i]!.id}`, ready(`http://127.0.0.1:${i === 0 ? containerOps : extraOps[i - 1]!}/readyz`), { timeoutMs: 120_000, child: w });
    }
    await until('the API', ready(`${base}/readyz`), { timeoutMs: 120_000, child: api });
    events = await EngineEvents.open(...engines);
    opts.log(`stack up: API ${base}, Temporal ${temporalAddress}${namespace ? ` (namespace ${namespace})` : ''}, hosts ${hosts.map((h) => h.id).join(', ')}`);

    const call: BenchStack['call'] = async (method, path, token, body) => {
      const headers: Record<string, string> = {};
      if (token) headers.authorization = `Bearer ${token}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
      const text = await res.text();
      return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
    };
    const spawned = new Set<string>();
    const client = temporal;
    const retried: Record<string, number> = {};
    // The tenant's entity workflow answers every SAT and spawn; under load a read of it can fail,
    // and the API says 503 entitlements_unavailable. A client retries that: so does the bench,
    // and it counts each one, because they are part of the result.
    const callRetrying = async (label: string, method: string, path: string, token: string, body: unknown): Promise<HttpResponse> => {
      for (let attempt = 0; ; attempt++) {
        const r = await call(method, path, token, body);
        const code = (r.json?.error as { code?: string } | undefined)?.code;
        if (r.status !== 503 || code !== 'entitlements_unavailable' || attempt >= 5) return r;
        retried[label] = (retried[label] ?? 0) + 1;
        await new Promise((res) => setTimeout(res, 200 * (attempt + 1)));
      }
    };
    const stack: BenchStack = {
      runId, base, hostId, docker, temporal: client, events, logsDir, storageDir: join(dir, 'storage'), accessSocketDir, spawned, retried,
      accessSocket: join(accessSocketDir, `${hostId}.sock`),
      relayToken: async (scenarioId, act, user) => (await mintToken('relay', {
        sub: 'subject:bench-access', scn: scenarioId, host: hostId, act, svc: 'main', user, rec: 1024 * 1024, max: 4,
      }, ring(secrets.RELAY_HMAC_SECRET), { ttlSeconds: 3600 })).token,
      cpu: cluster
        ? new CpuMeter({
          temporal: pidIn(join(REPO, '.data', 'cluster', 'temporal.pid')), mainWorker: mainWorker.proc.pid,
          ...Object.fromEntries(containerWorkers.map((w, i) => [`containerWorker${i ? `-${i + 1}` : ''}`, w.proc.pid])), api: api.proc.pid,
        }, {
          engines: cluster.engines.map((e) => ({ pidFile: join(dirname(e.socket), 'docker.pid'), suffix: `-${e.name}` })),
          trees: { postgres: pidIn(join(cluster.pgData, 'postmaster.pid')), artifactStore: pidIn(join(REPO, '.data', 'cluster', 'store', 'versitygw.pid')) },
        })
        : new CpuMeter({ temporal: server?.proc.pid, mainWorker: mainWorker.proc.pid, containerWorker: containerWorker.proc.pid, api: api.proc.pid }),
      children: { ...(server ? { temporal: server } : {}), mainWorker, containerWorker, api },
      ...(server ? { temporalMetrics: async () => (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text() } : {}),
      shape,
      call,
      et: async (sub, plan = 'enterprise') => (await mintToken('et', { sub, tenant: 'bench', plan }, ring(secrets.ET_HMAC_SECRET), { ttlSeconds: 3600 })).token,
      sat: async (et, template = 'hello', track = 'intro') => {
        const r = await callRetrying('POST /api/sat', 'POST', '/api/sat', et, { template, track });
        if (r.status !== 201) throw new Error(`POST /api/sat answered ${r.status}: ${JSON.stringify(r.json)}`);
        const sat = r.json!.sat as string;
        const { jti } = JSON.parse(Buffer.from(sat.split('.')[1]!, 'base64url').toString('utf8')) as { jti: string };
        return { sat, scenarioId: `scn-${jti}` };
      },
      spawn: async (sat, scenarioId) => {
        const r = await callRetrying('POST /api/spawn', 'POST', '/api/spawn', sat, {});
        if (r.status !== 202) throw new Error(`POST /api/spawn answered ${r.status}: ${JSON.stringify(r.json)}`);
        spawned.add(scenarioId);
      },
      completionToken: async (scenarioId) =>
        (await mintToken('completion', { sub: scenarioId }, completionRing(ring(secrets.COMPLETION_HMAC_SECRET), scenarioId), { ttlSeconds: 3600 })).token,
      complete: async (scenarioId) => {
        const token = await stack.completionToken(scenarioId);
        const body = { outcome: 'success', submission: { answer: 'hello' } };
        // The container runs a moment before the workflow records "running" (the launch activity
        // has to return first): a completion in that window is refused with 409 not_running.
        for (let attempt = 0; ; attempt++) {
          const r = await call('POST', `/api/scenarios/${scenarioId}/complete`, token, body);
          if (r.status === 202) return;
          const code = (r.json?.error as { code?: string } | undefined)?.code;
          if (r.status !== 409 || code !== 'not_running' || attempt > 200) throw new Error(`completion of ${scenarioId} answered ${r.status}: ${JSON.stringify(r.json)}`);
          await new Promise((res) => setTimeout(res, 25));
        }
      },
      result: async (scenarioId) => client.workflow.getHandle(scenarioId).result() as Promise<ScenarioState>,
      cancelAll: async (concurrency = 16) => {
        const ids = [...spawned];
        let next = 0;
        const lane = async () => {
          while (next < ids.length) {
            const id = ids[next++]!;
            const handle = client.workflow.getHandle(id);
            try {
              const { status } = await handle.describe();
              if (status.name === 'RUNNING') {
                await handle.cancel();
                await handle.result().catch(() => undefined);
              }
            } catch (err) {
              if (!(err instanceof WorkflowNotFoundError)) throw err;
            }
            spawned.delete(id);
          }
        };
        await Promise.all(Array.from({ length: concurrency }, lane));
      },
      stop: async ({ keepLogs = false } = {}) => {
        await stack.cancelAll().catch((err: unknown) => opts.log(`cancelling open scenarios failed: ${String(err)}`));
        await teardown();
        for (const name of readdirSync(dir)) if (!keepLogs || name !== 'logs') rmSync(join(dir, name), { recursive: true, force: true });
        if (keepLogs) opts.log(`logs kept in ${logsDir}`);
        else rmSync(dir, { recursive: true, force: true });
      },
    };
    return stack;
  } catch (err) {
    await teardown().catch(() => undefined);
    throw err;
  }
}
