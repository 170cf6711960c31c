// Configuration is read once, validated, and frozen. A process that lacks a secret it needs
// stops at start with the variable's name; behaviour never depends on NODE_ENV.
import { createHash, randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { ConfigError } from './errors.ts';

export type SecretName = 'ET_HMAC_SECRET' | 'SAT_HMAC_SECRET' | 'OPERATOR_HMAC_SECRET' | 'COMPLETION_HMAC_SECRET' | 'BILLING_HMAC_SECRET';

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
  /** workflows the main worker keeps in memory; the others are replayed from history when they wake */
  workflowCacheSize: number;
  warnings: string[];
}

const MIN_SECRET_BYTES = 32;

export function loadConfig(env: NodeJS.ProcessEnv, needs: readonly SecretName[] = []): Config {
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
  for (const name of needs) {
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

  const rawPort = env.PORT ?? '8080';
  const port = Number(rawPort);
  if (!/^[0-9]{1,5}$/.test(rawPort) || port > 65535) throw new ConfigError(`PORT must be a port number (0-65535), got "${rawPort}"`);
  const policySha256 = env.ARBITER_POLICY_SHA256?.trim() || undefined;
  if (policySha256 && !/^[0-9a-f]{64}$/.test(policySha256)) {
    throw new ConfigError('ARBITER_POLICY_SHA256 must be 64 lowercase hex characters');
  }
  const hostId = env.ARBITER_HOST_ID ?? 'local';
  if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(hostId)) throw new ConfigError(`ARBITER_HOST_ID "${hostId}" must match [a-z0-9-]{1,32}`);

  const positiveInt = (name: string, fallback: number): number => {
    const raw = env[name] ?? String(fallback);
    if (!/^[1-9][0-9]{0,8}$/.test(raw)) throw new ConfigError(`${name} must be a positive integer, got "${raw}"`);
    return Number(raw);
  };
  const atLeast = (min: number, name: string, value: number): number => {
    if (value < min) throw new ConfigError(`${name} must be at least ${min}, got ${value}`);
    return value;
  };

  return Object.freeze({
    mode,
    secrets,
    port,
    host: env.HOST ?? '127.0.0.1',
    temporalAddress: env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
    temporalNamespace: env.TEMPORAL_NAMESPACE ?? 'default',
    storageDir: resolve(env.ARBITER_STORAGE_DIR ?? './storage'),
    keysDir: resolve(env.ARBITER_KEYS_DIR ?? './.data/keys'),
    dockerSocket: env.DOCKER_SOCKET ?? '/var/run/docker.sock',
    hostId,
    policyDir: env.ARBITER_POLICY_DIR,
    policySha256,
    logLevel: env.LOG_LEVEL ?? 'info',
    devAllowXPlan,
    leaseCheckSeconds: positiveInt('ARBITER_LEASE_CHECK_SECONDS', 60),
    leaseStartGraceSeconds: positiveInt('ARBITER_LEASE_START_GRACE_SECONDS', 120),
    httpRateLimitPerMinute: positiveInt('ARBITER_HTTP_RATE_LIMIT', 600),
    // The SDK needs room for two (the one running and one being evicted); 1 would silently become 2.
    workflowCacheSize: atLeast(2, 'ARBITER_WORKFLOW_CACHE_SIZE', positiveInt('ARBITER_WORKFLOW_CACHE_SIZE', 100)),
    warnings,
  });
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
