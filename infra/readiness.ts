// Readiness: the dependencies a process needs, each a small probe that answers ok or says what
// failed, and the one runner that turns them into a verdict. The API's /readyz and each worker's
// ops server use the same checks, so "ready" means the same thing everywhere.
import { S3ArtifactStore } from './artifact-store.ts';
import { accessSync, constants, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { Config } from './config.ts';
import { publicJwks } from './keys.ts';
import { missingSearchAttributes, type OperatorConnection, type SearchAttributeSpec } from './search-attributes.ts';

/** true or "ok …" when healthy; "failing: why" (or a thrown error) when not. */
export type ReadinessCheck = () => Promise<string | true>;

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, string>;
  failing: string[];
}

export async function runReadiness(checks: Record<string, ReadinessCheck>): Promise<ReadinessReport> {
  const entries = await Promise.all(Object.entries(checks).map(async ([name, check]) => {
    try {
      const r = await check();
      return [name, r === true ? 'ok' : r] as const;
    } catch (err) {
      return [name, `failing: ${(err as Error).message}`] as const;
    }
  }));
  const failing = entries.filter(([, v]) => v !== 'ok' && !v.startsWith('ok ')).map(([k]) => k);
  return { ready: failing.length === 0, checks: Object.fromEntries(entries), failing };
}

/** The namespace has every custom search attribute the workflows upsert (else their tasks fail). */
export function searchAttributesCheck(conn: OperatorConnection, namespace: string, wanted: SearchAttributeSpec): ReadinessCheck {
  return async () => {
    const missing = await missingSearchAttributes(conn, namespace, wanted);
    return missing.length === 0 ? true : `failing: search attributes not registered: ${missing.join(', ')} (see deploy/RUNBOOK.md)`;
  };
}

/** The part of a Connection or NativeConnection the temporal check needs. */
export interface HealthConnection { healthService: { check(request: object): Promise<unknown> } }

export interface ReadinessDeps {
  config: Config;
  temporal: HealthConnection;
  /** the engine: checks that it answers and that it isolates (left out for a process that uses none) */
  docker?: Docker;
  /** the loaded policy (its bundle hash), or why it could not be loaded (left out when not used) */
  policy?: { sha256: string } | Error;
  /** false for a process that signs nothing (the container worker) */
  signingKey?: boolean;
  /** when given, also checks that the namespace has these custom search attributes */
  searchAttributes?: { connection: OperatorConnection; namespace: string; wanted: SearchAttributeSpec };
}

/** The checks of a process: each dependency it was given, and the storage it writes. */
export function readinessChecks(deps: ReadinessDeps): Record<string, ReadinessCheck> {
  const { docker, policy } = deps;
  return {
    temporal: async () => {
      await deps.temporal.healthService.check({});
      return true;
    },
    ...(docker
      ? {
          docker: async () => {
            await docker.ping();
            return true;
          },
          isolation: () => engineIsolation(docker),
        }
      : {}),
    storage: async () => {
      mkdirSync(deps.config.storageDir, { recursive: true });
      accessSync(deps.config.storageDir, constants.W_OK);
      const probe = join(deps.config.storageDir, `.readyz-${process.pid}`);
      writeFileSync(probe, 'ok');
      rmSync(probe);
      return true;
    },
    // Every process reads or writes artifacts there: a bucket it cannot reach is not ready.
    ...(deps.config.artifactStore.kind === 's3'
      ? {
          artifactStore: (() => {
            const store = new S3ArtifactStore(deps.config.artifactStore);
            return async () => {
              await store.check();
              return true;
            };
          })(),
        }
      : {}),
    ...(deps.signingKey === false
      ? {}
      : {
          signingKey: async () => {
            const jwks = await publicJwks(deps.config.keysDir);
            return jwks.keys.length > 0 ? true : 'failing: no signing key published (arbiter keys generate)';
          },
        }),
    ...(policy ? { policy: async () => (policy instanceof Error ? `failing: ${policy.message}` : `ok sha256:${policy.sha256}`) } : {}),
    ...(deps.searchAttributes
      ? { searchAttributes: searchAttributesCheck(deps.searchAttributes.connection, deps.searchAttributes.namespace, deps.searchAttributes.wanted) }
      : {}),
  };
}

/**
 * Whether the engine can only give containers no network: a bridge network (the engine's default
 * unless started with --bridge=none), or any other attachable one, is one `NetworkMode` away
 * from every scenario. Also refuses
 * an engine without seccomp, or whose default profile is unconfined: the filter would silently
 * not apply.
 */
export async function engineIsolation(docker: Docker): Promise<string | true> {
  // "null" (none) and "host" always exist and cannot be removed; any other driver (bridge,
  // macvlan, ipvlan, overlay) is a network a container could be attached to.
  const networks = (await docker.listNetworks()).filter((n) => n.Driver !== 'null' && n.Driver !== 'host').map((n) => `${n.Name} (${n.Driver})`);
  if (networks.length) return `failing: the engine has network(s) ${networks.join(', ')}: start dockerd with --bridge=none and remove them`;
  const info = (await docker.info()) as { SecurityOptions?: string[] };
  const seccomp = (info.SecurityOptions ?? []).find((o) => o === 'seccomp' || o.startsWith('name=seccomp'));
  if (!seccomp) return 'failing: the engine has no seccomp support';
  if (seccomp.includes('profile=unconfined')) return 'failing: the engine\'s default seccomp profile is unconfined';
  return true;
}
