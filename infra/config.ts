// Configuration is read once, validated, and frozen. A process that lacks a secret it needs
// stops at start with the variable's name; behaviour never depends on NODE_ENV.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../lib/errors.ts';
import type { ArtifactStoreConfig } from './artifact-store.ts';

export type SecretName = 'ET_HMAC_SECRET' | 'SAT_HMAC_SECRET' | 'OPERATOR_HMAC_SECRET' | 'COMPLETION_HMAC_SECRET' | 'BILLING_HMAC_SECRET' | 'RELAY_HMAC_SECRET';

/** A secret and the ones it replaced, so tokens signed before a rotation still verify. */
export interface SecretRing { current: Buffer; previous: Buffer[] }

export interface Config {
  mode: 'dev' | 'production';
  secrets: Partial<Record<SecretName, SecretRing>>;
  port: number;
  host: string;
  temporalAddress: string;
  temporalNamespace: string;
  storageDir: string;
  /** where artifacts live (ARBITER_ARTIFACT_STORE): the storage folder, or an S3 bucket */
  artifactStore: ArtifactStoreConfig;
  keysDir: string;
  dockerSocket: string;
  hostId: string;
  policyDir: string | undefined;
  policySha256: string | undefined;
  logLevel: string;
  devAllowXPlan: boolean;
  /** quota entities check their lease holders this often, and give an unstarted holder this long */
  leaseCheckSeconds: number;
  leaseStartGraceSeconds: number;
  /** per-client HTTP requests per minute */
  httpRateLimitPerMinute: number;
  /** subject-access calls a minute per scenario, across its callers, counted once a caller's token names that scenario */
  accessRateLimitPerMinute: number;
  /** workflows the main worker keeps in memory; the others are replayed from history when they wake */
  workflowCacheSize: number;
  /** container hosts the main worker spreads new scenarios over */
  hosts: string[];
  /** OCI runtime of scorer containers (a scenario's run on its template's); undefined leaves the engine's default */
  runtime: 'runc' | 'runsc' | undefined;
  /** whether the API's /readyz checks the Docker engine (off where the API has no socket) */
  readyzDocker: boolean;
  /** the prebuilt workflow bundle the main worker loads when it exists */
  workflowBundle: string;
  /** remote policy mode (OPA_URL); undefined: the in-process Wasm bundle */
  opa: { url: string; timeoutMs: number } | undefined;
  workerOps: WorkerOpsSettings;
  /**
   * Where each container host's access server listens (CONTRACT "Subject access"): the API
   * relays exec, files and terminals there. `unix:<path>` or `<host>:<port>`.
   */
  access: {
    /** this host's own listen address (container worker) */
    listen: string;
    /** the API's view: host id -> address; a host not listed is at unix:<socketDir>/<hostId>.sock */
    endpoints: Record<string, string>;
    socketDir: string;
    /**
     * a file transfer that makes no progress for this long is cut short, by the API and by each
     * host (ARBITER_ACCESS_IDLE_SECONDS): an upload, with nothing written, or an answer its reader
     * stopped taking
     */
    idleSeconds: number;
  };
  /** warm pools this host keeps (ARBITER_POOLS), over what template versions declare */
  pools: PoolOverride[];
  /** ARBITER_POOLS=none: this host keeps no pool at all, whatever templates declare */
  poolsOff: boolean;
  /** pooled entries plus running scenarios on this host never exceed it (ARBITER_HOST_CAPACITY) */
  hostCapacity: number;
  /** where verdicts are signed (ARBITER_SIGNER): key files in keysDir, or a PKCS#11 token */
  signer: SignerSettings;
  /** a host whose reports stopped this long ago is lost: its open scenarios end (ARBITER_HOST_LOST_SECONDS) */
  hostLostSeconds: number;
  warnings: string[];
}

/**
 * The verdict signer. `pin` is read here but only required where a token is opened (the main
 * worker, `arbiter keys`): the API and the container workers never need it.
 */
export type SignerSettings =
  | { kind: 'file' }
  | { kind: 'pkcs11'; module: string; token: string; pin: string | undefined };

/** One `templateId@version=min:max` of ARBITER_POOLS. */
export interface PoolOverride { template: string; version: string; min: number; max: number }

/** A pool's bounds, as a template declares them and ARBITER_POOLS overrides them. */
export const MAX_POOL_SIZE = 32;

/**
 * The ops settings as given. A port left unset takes the worker kind's default (workerOps), since
 * the main and the container worker must not collide on one machine.
 */
export interface WorkerOpsSettings {
  httpHost: string;
  httpPort: number | 'off' | undefined;
  /** host:port, or "off" */
  sdkMetricsAddress: string | undefined;
}

export interface WorkerOpsConfig {
  /** the ops server (/healthz, /readyz, /metrics); undefined when WORKER_HTTP_PORT=off */
  http: { host: string; port: number } | undefined;
  /** where the SDK's Prometheus exporter listens; undefined when TEMPORAL_METRICS_ADDRESS=off */
  sdkMetricsAddress: string | undefined;
}

export const DEFAULT_OPA_TIMEOUT_MS = 2000;
/** Where scripts/bundle-workflows.ts writes the bundle; a worker loads it when it exists. */
export const DEFAULT_WORKFLOW_BUNDLE = fileURLToPath(new URL('../dist/workflow-bundle.js', import.meta.url));
const HOST_ID = /^[a-z0-9][a-z0-9-]{0,31}$/;
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

const MIN_SECRET_BYTES = 32;

/**
 * `needs`: secrets the process cannot run without. `optional`: secrets loaded (and checked like
 * the others) only when set, for features that are refused without them.
 */
export function loadConfig(env: NodeJS.ProcessEnv, needs: readonly SecretName[] = [], optional: readonly SecretName[] = []): Config {
  const warnings: string[] = [];
  const rawMode = env.ARBITER_MODE ?? 'production';
  if (rawMode !== 'dev' && rawMode !== 'production') {
    throw new ConfigError(`ARBITER_MODE must be "dev" or "production", got "${rawMode}"`);
  }
  const mode = rawMode;
  const generate = flag(env, 'ARBITER_DEV_GENERATE_SECRETS');
  const devAllowXPlan = flag(env, 'ARBITER_DEV_ALLOW_X_PLAN');
  if (mode !== 'dev') {
    for (const name of ['ARBITER_DEV_GENERATE_SECRETS', 'ARBITER_DEV_ALLOW_X_PLAN']) {
      if (flag(env, name)) throw new ConfigError(`${name} is a dev-only flag and ARBITER_MODE is "${mode}"`);
    }
  }
  if (devAllowXPlan) warnings.push('ARBITER_DEV_ALLOW_X_PLAN is on: the X-Plan header overrides entitlements (dev only)');

  const secrets: Config['secrets'] = {};
  for (const name of [...needs, ...optional.filter((n) => env[n] && !needs.includes(n))]) {
    let value = env[name];
    if (name === 'SAT_HMAC_SECRET' && !value && env.SAT_SECRET) {
      value = env.SAT_SECRET;
      warnings.push('SAT_SECRET is a legacy name: set SAT_HMAC_SECRET instead');
    }
    if (!value) {
      if (mode === 'dev' && generate) {
        warnings.push(`${name} is not set: using a generated, process-local dev secret`);
        secrets[name] = { current: randomBytes(MIN_SECRET_BYTES), previous: [] };
        continue;
      }
      throw new ConfigError(`${name} is required${mode === 'dev' ? ' (or set ARBITER_DEV_GENERATE_SECRETS=1 in dev mode)' : ''}`);
    }
    // Previous secrets still verify tokens, so they must be exactly as strong as the current one.
    const checkLength = (label: string, secret: Buffer) => {
      if (secret.length >= MIN_SECRET_BYTES) return;
      if (mode !== 'dev') throw new ConfigError(`${label} is too short: at least ${MIN_SECRET_BYTES} bytes are required`);
      warnings.push(`${label} is shorter than ${MIN_SECRET_BYTES} bytes (accepted in dev mode only)`);
    };
    const current = Buffer.from(value, 'utf8');
    checkLength(name, current);
    const previous = (env[`${name}_PREVIOUS`] ?? '')
      .split(',').map((s) => s.trim()).filter(Boolean).map((s) => Buffer.from(s, 'utf8'));
    for (const p of previous) checkLength(`${name}_PREVIOUS`, p);
    secrets[name] = { current, previous };
  }

  const port = portNumber('PORT', env.PORT ?? '8080');
  const policySha256 = env.ARBITER_POLICY_SHA256?.trim() || undefined;
  if (policySha256 && !/^[0-9a-f]{64}$/.test(policySha256)) {
    throw new ConfigError('ARBITER_POLICY_SHA256 must be 64 lowercase hex characters');
  }
  const hostId = env.ARBITER_HOST_ID ?? 'local';
  if (!HOST_ID.test(hostId)) throw new ConfigError(`ARBITER_HOST_ID "${hostId}" must match [a-z0-9-]{1,32}`);

  const positiveInt = (name: string, fallback: number): number => {
    const raw = env[name] ?? String(fallback);
    if (!/^[1-9][0-9]{0,8}$/.test(raw)) throw new ConfigError(`${name} must be a positive integer, got "${raw}"`);
    return Number(raw);
  };
  const atLeast = (min: number, name: string, value: number): number => {
    if (value < min) throw new ConfigError(`${name} must be at least ${min}, got ${value}`);
    return value;
  };

  // An empty path would resolve to the working directory: storage or keys would land wherever the
  // process happened to start.
  const path = (name: string, fallback: string): string => {
    const raw = env[name] ?? fallback;
    if (raw.trim() === '') throw new ConfigError(`${name} must be a path, got an empty value`);
    return raw;
  };
  const logLevel = env.LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  const temporalNamespace = env.TEMPORAL_NAMESPACE ?? 'default';
  if (!/^\S+$/.test(temporalNamespace)) throw new ConfigError(`TEMPORAL_NAMESPACE must be a namespace name without spaces, got "${temporalNamespace}"`);

  return Object.freeze({
    mode,
    secrets,
    port,
    host: hostName('HOST', env.HOST ?? '127.0.0.1'),
    temporalAddress: temporalAddress(env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233'),
    temporalNamespace,
    storageDir: resolve(path('ARBITER_STORAGE_DIR', './storage')),
    artifactStore: artifactStore(env),
    keysDir: resolve(path('ARBITER_KEYS_DIR', './.data/keys')),
    dockerSocket: path('DOCKER_SOCKET', '/var/run/docker.sock'),
    hostId,
    policyDir: env.ARBITER_POLICY_DIR === undefined ? undefined : path('ARBITER_POLICY_DIR', ''),
    policySha256,
    logLevel,
    devAllowXPlan,
    leaseCheckSeconds: positiveInt('ARBITER_LEASE_CHECK_SECONDS', 60),
    leaseStartGraceSeconds: positiveInt('ARBITER_LEASE_START_GRACE_SECONDS', 120),
    httpRateLimitPerMinute: positiveInt('ARBITER_HTTP_RATE_LIMIT', 600),
    accessRateLimitPerMinute: positiveInt('ARBITER_ACCESS_RATE_LIMIT', 600),
    // The SDK needs room for two (the one running and one being evicted); 1 would silently become 2.
    // 50, not 100: with 500 open scenarios the main worker's RSS was 330 MB against 386 MB (one
    // bench run each, bench/open-scenarios.ts); an evicted scenario replays its ~38 events when it wakes.
    workflowCacheSize: atLeast(2, 'ARBITER_WORKFLOW_CACHE_SIZE', positiveInt('ARBITER_WORKFLOW_CACHE_SIZE', 50)),
    hosts: hostList(env.ARBITER_HOSTS, hostId),
    runtime: containerRuntime(env.ARBITER_RUNTIME),
    readyzDocker: onOff('ARBITER_READYZ_DOCKER', env.ARBITER_READYZ_DOCKER),
    workflowBundle: workflowBundle(env.ARBITER_WORKFLOW_BUNDLE),
    opa: remotePolicy(env.OPA_URL, env.OPA_TIMEOUT_MS),
    workerOps: workerOpsSettings(env),
    access: { ...accessSettings(env, hostId, resolve(path('ARBITER_ACCESS_SOCKET_DIR', '/run/arbiter/access'))), idleSeconds: positiveInt('ARBITER_ACCESS_IDLE_SECONDS', 60) },
    pools: env.ARBITER_POOLS?.trim() === 'none' ? [] : poolOverrides(env.ARBITER_POOLS),
    poolsOff: env.ARBITER_POOLS?.trim() === 'none',
    hostCapacity: positiveInt('ARBITER_HOST_CAPACITY', 32),
    signer: signerSettings(env),
    // Under it an engine restart (live-restore keeps containers running) or a worker upgrade could
    // end scenarios that would have gone on; the report comes every 2 s.
    hostLostSeconds: atLeast(10, 'ARBITER_HOST_LOST_SECONDS', positiveInt('ARBITER_HOST_LOST_SECONDS', 60)),
    warnings,
  });
}

const ACCESS_ADDRESS = /^(unix:\/.+|[A-Za-z0-9.-]+:[0-9]{1,5}|\[[0-9a-fA-F:]+\]:[0-9]{1,5})$/;

function accessSettings(env: NodeJS.ProcessEnv, hostId: string, socketDir: string): Omit<Config['access'], 'idleSeconds'> {
  const check = (name: string, value: string) => {
    if (!ACCESS_ADDRESS.test(value)) throw new ConfigError(`${name} must be unix:/absolute/path or host:port, got "${value}"`);
    return value;
  };
  const endpoints: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const item of (env.ARBITER_HOST_ACCESS ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = item.indexOf('=');
    const id = item.slice(0, eq);
    if (eq < 1 || !HOST_ID.test(id)) throw new ConfigError(`ARBITER_HOST_ACCESS entries are hostId=address, got "${item}"`);
    endpoints[id] = check('ARBITER_HOST_ACCESS', item.slice(eq + 1));
  }
  const listen = check('ARBITER_ACCESS_LISTEN', env.ARBITER_ACCESS_LISTEN ?? endpoints[hostId] ?? `unix:${socketDir}/${hostId}.sock`);
  return { listen, endpoints, socketDir };
}

/** Where the API reaches a host's access server. */
export function accessEndpoint(config: Pick<Config, 'access'>, hostId: string): string {
  return config.access.endpoints[hostId] ?? `unix:${config.access.socketDir}/${hostId}.sock`;
}

/**
 * The ops endpoints of one worker kind: what the environment set, else that kind's ports.
 * Pure: every value was read and checked by loadConfig.
 */
export function workerOps(config: Pick<Config, 'workerOps'>, defaults: { httpPort: number; sdkMetricsPort: number }): WorkerOpsConfig {
  const { httpHost, httpPort = defaults.httpPort, sdkMetricsAddress = `127.0.0.1:${defaults.sdkMetricsPort}` } = config.workerOps;
  return {
    http: httpPort === 'off' ? undefined : { host: httpHost, port: httpPort },
    sdkMetricsAddress: sdkMetricsAddress === 'off' ? undefined : sdkMetricsAddress,
  };
}

function portNumber(name: string, raw: string, alternative = ''): number {
  const port = Number(raw);
  // Number() reads "", " ", "0x1F90" and "1e3" as numbers: only plain decimal digits are a port.
  if (!/^[0-9]{1,5}$/.test(raw) || port > 65535) throw new ConfigError(`${name} must be a port number (0-65535)${alternative}, got "${raw}"`);
  return port;
}

function hostName(name: string, raw: string): string {
  // An empty host would make the server listen on every interface.
  if (!/^[A-Za-z0-9.:-]+$/.test(raw)) throw new ConfigError(`${name} must be a host name or an IP address, got "${raw}"`);
  return raw;
}

/** host or host:port, as the Temporal SDK takes it (its default port is 7233). */
function temporalAddress(raw: string): string {
  const match = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::([0-9]{1,5}))?$/.exec(raw);
  if (!match || Number(match[1] ?? 0) > 65535) throw new ConfigError(`TEMPORAL_ADDRESS must be host or host:port, got "${raw}"`);
  return raw;
}

function hostList(raw: string | undefined, hostId: string): string[] {
  if (raw === undefined) return [hostId];
  const hosts = raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (hosts.length === 0) throw new ConfigError('ARBITER_HOSTS must list at least one container host id (comma-separated), got an empty list');
  for (const host of hosts) {
    if (!HOST_ID.test(host)) throw new ConfigError(`ARBITER_HOSTS: "${host}" must match [a-z0-9-]{1,32}, as ARBITER_HOST_ID does`);
  }
  // A host listed twice would silently take twice its share of new scenarios.
  const twice = hosts.find((h, i) => hosts.indexOf(h) !== i);
  if (twice) throw new ConfigError(`ARBITER_HOSTS lists "${twice}" more than once`);
  return hosts;
}

/** ARBITER_POOLS: a comma list of `templateId@version=min:max`, 0 <= min <= max <= 32. */
export function poolOverrides(raw: string | undefined): PoolOverride[] {
  const pools: PoolOverride[] = [];
  for (const item of (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z][a-z0-9-]{0,62})@([0-9]+)=([0-9]{1,2}):([0-9]{1,2})$/.exec(item);
    if (!m) throw new ConfigError(`ARBITER_POOLS entries are templateId@version=min:max, got "${item}"`);
    const [min, max] = [Number(m[3]), Number(m[4])];
    if (min > max || max > MAX_POOL_SIZE) throw new ConfigError(`ARBITER_POOLS "${item}": 0 <= min <= max <= ${MAX_POOL_SIZE}`);
    if (pools.some((p) => p.template === m[1] && p.version === m[2])) throw new ConfigError(`ARBITER_POOLS names ${m[1]}@${m[2]} more than once`);
    pools.push({ template: m[1]!, version: m[2]!, min, max });
  }
  return pools;
}

function signerSettings(env: NodeJS.ProcessEnv): SignerSettings {
  const kind = env.ARBITER_SIGNER?.trim() || 'file';
  if (kind === 'file') return { kind };
  if (kind !== 'pkcs11') throw new ConfigError(`ARBITER_SIGNER must be "file" or "pkcs11", got "${kind}"`);
  const module = env.ARBITER_PKCS11_MODULE?.trim();
  if (!module) throw new ConfigError('ARBITER_PKCS11_MODULE is required when ARBITER_SIGNER=pkcs11: the path of the PKCS#11 library (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)');
  const token = env.ARBITER_PKCS11_TOKEN ?? '';
  // PKCS#11 token labels are 32 bytes, blank-padded: trailing blanks are not part of a label.
  if (token.trim() === '' || Buffer.byteLength(token.trimEnd()) > 32) {
    throw new ConfigError(`ARBITER_PKCS11_TOKEN is required when ARBITER_SIGNER=pkcs11: the label of the token (1 to 32 bytes), got "${token}"`);
  }
  return { kind, module, token: token.trimEnd(), pin: env.ARBITER_PKCS11_PIN || undefined };
}

/**
 * ARBITER_ARTIFACT_STORE=local (default) or s3. For s3: ARBITER_S3_BUCKET, ARBITER_S3_REGION
 * (default us-east-1), ARBITER_S3_ENDPOINT for a server other than AWS, and credentials from
 * ARBITER_S3_ACCESS_KEY_ID/ARBITER_S3_SECRET_ACCESS_KEY or else the AWS SDK's own chain
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, profiles).
 */
function artifactStore(env: NodeJS.ProcessEnv): ArtifactStoreConfig {
  const kind = env.ARBITER_ARTIFACT_STORE?.trim() || 'local';
  if (kind === 'local') return { kind };
  if (kind !== 's3') throw new ConfigError(`ARBITER_ARTIFACT_STORE must be "local" or "s3", got "${kind}"`);
  const bucket = env.ARBITER_S3_BUCKET?.trim() ?? '';
  // S3's bucket naming rules (lowercase, digits, dots, hyphens; 3-63), so a typo is named here.
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new ConfigError(`ARBITER_S3_BUCKET must name a bucket (3-63 of a-z 0-9 . -) when ARBITER_ARTIFACT_STORE=s3, got "${bucket}"`);
  const region = env.ARBITER_S3_REGION?.trim() || 'us-east-1';
  if (!/^[a-z0-9-]{1,32}$/.test(region)) throw new ConfigError(`ARBITER_S3_REGION must be a region name like us-east-1, got "${region}"`);
  const rawEndpoint = env.ARBITER_S3_ENDPOINT?.trim() || undefined;
  let endpoint: string | undefined;
  if (rawEndpoint) {
    let url: URL | undefined;
    try {
      url = new URL(rawEndpoint);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/' || url.search) {
      throw new ConfigError(`ARBITER_S3_ENDPOINT must be an http(s) URL of the server, like http://127.0.0.1:7070, got "${rawEndpoint}"`);
    }
    endpoint = url.origin;
  }
  const accessKeyId = env.ARBITER_S3_ACCESS_KEY_ID?.trim();
  const secretAccessKey = env.ARBITER_S3_SECRET_ACCESS_KEY?.trim();
  if (Boolean(accessKeyId) !== Boolean(secretAccessKey)) {
    throw new ConfigError(`${accessKeyId ? 'ARBITER_S3_SECRET_ACCESS_KEY' : 'ARBITER_S3_ACCESS_KEY_ID'} is required when the other one is set`);
  }
  if (!accessKeyId && !(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) && !env.AWS_PROFILE && !env.AWS_WEB_IDENTITY_TOKEN_FILE && !env.AWS_CONTAINER_CREDENTIALS_FULL_URI && !env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) {
    throw new ConfigError('ARBITER_ARTIFACT_STORE=s3 needs credentials: ARBITER_S3_ACCESS_KEY_ID and ARBITER_S3_SECRET_ACCESS_KEY, or the AWS SDK\'s (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a web identity or container role)');
  }
  return { kind, bucket, region, endpoint, credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined };
}

function containerRuntime(raw: string | undefined): Config['runtime'] {
  if (raw === undefined || raw === '') return undefined;
  if (raw === 'runc' || raw === 'runsc') return raw;
  throw new ConfigError(`ARBITER_RUNTIME must be "runc" or "runsc" (or unset for the engine's default), got "${raw}"`);
}

function onOff(name: string, raw: string | undefined): boolean {
  if (raw === undefined || raw === '' || raw === 'on') return true;
  if (raw === 'off') return false;
  throw new ConfigError(`${name} must be "on" or "off", got "${raw}"`);
}

function workflowBundle(raw: string | undefined): string {
  if (raw === undefined || raw === '') return DEFAULT_WORKFLOW_BUNDLE;
  // Without a bundle the worker bundles the sources at start: a misspelt name would do that silently.
  const path = resolve(raw);
  if (!existsSync(path)) throw new ConfigError(`ARBITER_WORKFLOW_BUNDLE names ${path}, which does not exist`);
  return path;
}

function remotePolicy(rawUrl: string | undefined, rawTimeoutMs: string | undefined): Config['opa'] {
  const raw = rawUrl?.trim();
  if (!raw) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`OPA_URL must be an http(s) URL, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`OPA_URL must be an http(s) URL, got "${raw}"`);
  const rawTimeout = rawTimeoutMs?.trim() || String(DEFAULT_OPA_TIMEOUT_MS);
  const timeoutMs = Number(rawTimeout);
  if (!/^[0-9]{1,6}$/.test(rawTimeout) || timeoutMs < 1 || timeoutMs > 60_000) {
    throw new ConfigError(`OPA_TIMEOUT_MS must be a whole number of milliseconds between 1 and 60000, got "${rawTimeout}"`);
  }
  return { url: url.href, timeoutMs };
}

function workerOpsSettings(env: NodeJS.ProcessEnv): WorkerOpsSettings {
  const rawPort = env.WORKER_HTTP_PORT;
  const httpPort = rawPort === undefined || rawPort === 'off' ? rawPort : portNumber('WORKER_HTTP_PORT', rawPort, ' or "off"');
  const rawSdk = env.TEMPORAL_METRICS_ADDRESS;
  if (rawSdk !== undefined && rawSdk !== 'off') {
    const port = /^[A-Za-z0-9.:[\]-]+:([0-9]{1,5})$/.exec(rawSdk)?.[1];
    if (port === undefined || Number(port) > 65535) throw new ConfigError(`TEMPORAL_METRICS_ADDRESS must be host:port or "off", got "${rawSdk}"`);
  }
  return { httpHost: hostName('WORKER_HTTP_HOST', env.WORKER_HTTP_HOST ?? '127.0.0.1'), httpPort, sdkMetricsAddress: rawSdk };
}

function flag(env: NodeJS.ProcessEnv, name: string): boolean {
  const v = env[name];
  return v === '1' || v === 'true' || v === 'yes';
}

/** A secret's key id: derived from the secret itself so rotation needs no extra bookkeeping. */
export function secretKeyId(secret: Buffer): string {
  // A hash prefix tells a handful of live secrets apart without revealing anything about them.
  return `hs-${createHash('sha256').update(secret).digest('hex').slice(0, 12)}`;
}
