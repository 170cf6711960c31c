// The cluster shape for the end-to-end tests (ARBITER_E2E_SHAPE=cluster): the Temporal server on
// PostgreSQL, the two Docker engines and the S3 artifact store (versitygw) that
// `bash scripts/cluster.sh up` started, once for the whole run (its .data/cluster/cluster.env says
// where they answer). Each stack gets a namespace of its own on that server and a bucket of its
// own in that store, so files that follow one another never see each other's workflows, task
// queues, quota entities or artifacts.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import Docker from 'dockerode';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, paginateListObjectsV2 } from '@aws-sdk/client-s3';
import { registerSearchAttributes, missingSearchAttributes } from '../../infra/search-attributes.ts';
import { S3ArtifactStore } from '../../infra/artifact-store.ts';
import { SEARCH_ATTRIBUTES } from '../../contract/queues.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const CLUSTER_ENV_FILE = join(REPO, '.data', 'cluster', 'cluster.env');

export type E2eShape = 'dev' | 'cluster';

/** dev (default): a Temporal dev server per stack and the shared engine; cluster: scripts/cluster.sh's. */
export function e2eShape(): E2eShape {
  const raw = process.env.ARBITER_E2E_SHAPE ?? 'dev';
  if (raw !== 'dev' && raw !== 'cluster') throw new Error(`ARBITER_E2E_SHAPE must be dev or cluster, got "${raw}"`);
  return raw;
}

export interface ClusterEnv {
  temporalAddress: string;
  /** the container hosts' engines, in cluster.sh's order (host-a, host-b) */
  engines: Array<{ name: string; socket: string }>;
  pgPort: number;
  /** PostgreSQL's data directory (its postmaster.pid names the server) */
  pgData: string;
  /** the Temporal UI server's address, when the bootstrap built it */
  ui: string | undefined;
  /** the shared artifact store: an S3 endpoint on 127.0.0.1 (credentials: .data/dev.env's) */
  store: { endpoint: string; region: string };
}

export function clusterEnv(): ClusterEnv {
  if (!existsSync(CLUSTER_ENV_FILE)) throw new Error(`${CLUSTER_ENV_FILE} is missing: run \`bash scripts/cluster.sh up\` before tests with ARBITER_E2E_SHAPE=cluster`);
  const vars = Object.fromEntries(readFileSync(CLUSTER_ENV_FILE, 'utf8').split('\n').filter((l) => /^[A-Z_][A-Z0-9_]*=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])) as Record<string, string | undefined>;
  const need = (k: string): string => {
    const v = vars[k];
    if (!v) throw new Error(`${k} missing from ${CLUSTER_ENV_FILE}: run \`bash scripts/cluster.sh up\` again`);
    return v;
  };
  return {
    temporalAddress: need('TEMPORAL_ADDRESS'),
    engines: [{ name: 'host-a', socket: need('ARBITER_CLUSTER_ENGINE_HOST_A') }, { name: 'host-b', socket: need('ARBITER_CLUSTER_ENGINE_HOST_B') }],
    pgPort: Number(need('ARBITER_CLUSTER_PG_PORT')),
    pgData: need('ARBITER_CLUSTER_PG_DATA'),
    ui: vars.ARBITER_CLUSTER_UI || undefined,
    store: { endpoint: need('ARBITER_S3_ENDPOINT'), region: vars.ARBITER_S3_REGION || 'us-east-1' },
  };
}

/** The dev S3 credentials (scripts/bootstrap-store.sh): from the environment, else .data/dev.env. */
function devS3Credentials(): { accessKeyId: string; secretAccessKey: string } {
  const file = join(REPO, '.data', 'dev.env');
  const vars = existsSync(file)
    ? Object.fromEntries(readFileSync(file, 'utf8').split('\n').filter((l) => /^[A-Z_0-9]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])) as Record<string, string | undefined>
    : {};
  const accessKeyId = process.env.ARBITER_S3_ACCESS_KEY_ID || vars.ARBITER_S3_ACCESS_KEY_ID;
  const secretAccessKey = process.env.ARBITER_S3_SECRET_ACCESS_KEY || vars.ARBITER_S3_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) throw new Error('ARBITER_S3_ACCESS_KEY_ID/ARBITER_S3_SECRET_ACCESS_KEY missing from the environment and .data/dev.env: run bash scripts/bootstrap-store.sh');
  return { accessKeyId, secretAccessKey };
}

/**
 * A bucket of its own on the cluster's store for one stack (named like its namespace), and the
 * variables that select it; remove() deletes what the stack left in it, then the bucket.
 */
export async function createTestBucket(cluster: ClusterEnv, bucket: string): Promise<{ env: Record<string, string>; store: S3ArtifactStore; remove(): Promise<void> }> {
  const credentials = devS3Credentials();
  const store = new S3ArtifactStore({ endpoint: cluster.store.endpoint, region: cluster.store.region, bucket, credentials });
  await store.client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    store,
    env: {
      ARBITER_ARTIFACT_STORE: 's3',
      ARBITER_S3_ENDPOINT: cluster.store.endpoint,
      ARBITER_S3_REGION: cluster.store.region,
      ARBITER_S3_BUCKET: bucket,
      ARBITER_S3_ACCESS_KEY_ID: credentials.accessKeyId,
      ARBITER_S3_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    },
    remove: async () => {
      for await (const page of paginateListObjectsV2({ client: store.client }, { Bucket: bucket })) {
        for (const o of page.Contents ?? []) await store.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key }));
      }
      await store.client.send(new DeleteBucketCommand({ Bucket: bucket }));
      store.client.destroy();
    },
  };
}

/** A fresh namespace with Arbiter's search attributes, usable when this returns. */
export async function createTestNamespace(address: string, prefix = 'e2e'): Promise<string> {
  const namespace = `${prefix}-${randomBytes(5).toString('hex')}`;
  const connection = await Connection.connect({ address });
  try {
    await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
    await registerSearchAttributes(connection, namespace, SEARCH_ATTRIBUTES);
    // The frontend's namespace cache and the visibility store's attribute mapping catch up within
    // a few seconds: wait until both answer for this namespace.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const ready = await connection.workflowService.describeNamespace({ namespace })
        .then(async () => (await missingSearchAttributes(connection, namespace, SEARCH_ATTRIBUTES)).length === 0
          && (await connection.workflowService.countWorkflowExecutions({ namespace, query: "ArbiterTenant = 'none'" }), true))
        .catch(() => false);
      if (ready) return namespace;
      if (Date.now() > deadline) throw new Error(`namespace ${namespace} on ${address} was not usable within 60 s`);
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    await connection.close();
  }
}

/** Deletes a test namespace and its workflows (the server does it in the background). */
export async function deleteTestNamespace(address: string, namespace: string): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    await connection.operatorService.deleteNamespace({ namespace });
  } finally {
    await connection.close();
  }
}

const NOT_FOUND = (err: unknown) => (err as { statusCode?: number }).statusCode === 404;

/**
 * One Docker client over several engines, for the tests' look-ups: listContainers answers every
 * engine's containers, and a container's or an image's methods go to the engine that has it (a
 * 404 on one engine tries the next: each engine builds its own images, under ids of its own).
 * Everything else (info, createContainer) is the first engine's.
 */
export function spanEngines(engines: Docker[]): Docker {
  const [first] = engines;
  if (!first) throw new Error('spanEngines: no engine');
  const onAny = <T extends object>(pick: (engine: Docker) => T): T => new Proxy(pick(first), {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        let last: unknown;
        for (const engine of engines) {
          const on = pick(engine) as unknown as Record<PropertyKey, (...a: unknown[]) => Promise<unknown>>;
          try {
            return await on[prop]!(...args);
          } catch (err) {
            if (!NOT_FOUND(err)) throw err;
            last = err;
          }
        }
        throw last;
      };
    },
  });
  return new Proxy(first, {
    get(target, prop) {
      if (prop === 'listContainers') {
        return async (opts?: Docker.ContainerListOptions) => (await Promise.all(engines.map((e) => e.listContainers(opts ?? {})))).flat();
      }
      if (prop === 'getContainer') return (id: string) => onAny((e) => e.getContainer(id));
      if (prop === 'getImage') return (name: string) => onAny((e) => e.getImage(name));
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
