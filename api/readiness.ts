// The dependencies /readyz checks, each a small probe that either answers ok or says what failed.
import { accessSync, constants, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { Connection } from '@temporalio/client';
import type { Config } from '../lib/config.ts';
import { publicJwks } from '../lib/keys.ts';
import type { PolicyEngine } from '../activities/policy.ts';
import type { ReadinessCheck } from './routes/health.ts';

export function readinessChecks(deps: { config: Config; temporal: Connection; docker: Docker; policy: PolicyEngine | Error }): Record<string, ReadinessCheck> {
  return {
    temporal: async () => {
      await deps.temporal.healthService.check({});
      return true;
    },
    docker: async () => {
      await deps.docker.ping();
      return true;
    },
    storage: async () => {
      mkdirSync(deps.config.storageDir, { recursive: true });
      accessSync(deps.config.storageDir, constants.W_OK);
      const probe = join(deps.config.storageDir, `.readyz-${process.pid}`);
      writeFileSync(probe, 'ok');
      rmSync(probe);
      return true;
    },
    signingKey: async () => {
      const jwks = await publicJwks(deps.config.keysDir);
      return jwks.keys.length > 0 ? true : 'failing: no signing key published (arbiter keys generate)';
    },
    policy: async () => (deps.policy instanceof Error ? `failing: ${deps.policy.message}` : `ok sha256:${deps.policy.sha256}`),
  };
}
