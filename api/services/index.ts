// The app's services are named plugins (fastify-plugin) that decorate the app: `app.scenarios`,
// `app.quota`, `app.entitlements`, `app.retention`, `app.spawn`. Each module registers its real
// one; buildApp registers another in its place when asked, which is how a test swaps a service
// without Temporal. The names live here, once, so a replacement carries the name the others'
// `dependencies` look for.
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyPluginAsync, FastifyPluginOptions } from 'fastify';
import type { EntitlementService } from './entitlements.ts';
import type { QuotaService } from './quota.ts';
import type { RetentionService } from './retention.ts';
import type { ScenarioService } from './scenarios.ts';
import type { SpawnService } from './spawn.ts';

declare module 'fastify' {
  interface FastifyInstance {
    retention: RetentionService;
    scenarios: ScenarioService;
    entitlements: EntitlementService;
    quota: QuotaService;
    spawn: SpawnService;
  }
}

export const SERVICES = {
  retention: { name: 'arbiter-retention', dependencies: [] },
  scenarios: { name: 'arbiter-scenarios', dependencies: ['arbiter-retention'] },
  entitlements: { name: 'arbiter-entitlements', dependencies: [] },
  quota: { name: 'arbiter-quota', dependencies: [] },
  spawn: { name: 'arbiter-spawn', dependencies: ['arbiter-quota', 'arbiter-entitlements', 'arbiter-scenarios'] },
} as const satisfies Record<string, { name: string; dependencies: readonly string[] }>;

export type ServiceKey = keyof typeof SERVICES;

/** Plugins buildApp registers instead of the real services; each must carry its service's name. */
export type ServiceReplacements = Partial<Record<ServiceKey, FastifyPluginAsync>>;

/** fastify-plugin metadata of a service: its name and the services it needs registered first. */
export function serviceMeta(key: ServiceKey): { name: string; dependencies: string[] } {
  return { name: SERVICES[key].name, dependencies: [...SERVICES[key].dependencies] };
}

/** A plugin that decorates the app with the given object as service `key`: a replacement for buildApp. */
export function servicePlugin<K extends ServiceKey>(key: K, service: FastifyInstance[K]): FastifyPluginAsync {
  return fp(async (app: FastifyInstance) => {
    // Widened to a plain name: the per-key value type is already checked by the signature above.
    app.decorate<unknown>(key as string, service);
  }, serviceMeta(key));
}

/** A service's real plugin: decorates the app with what `build` makes of the app (its dependencies) and the options. */
export function realService<K extends ServiceKey, O extends FastifyPluginOptions>(key: K, build: (app: FastifyInstance, opts: O) => FastifyInstance[K]): FastifyPluginAsync<O> {
  const plugin: FastifyPluginAsync<O> = async (app, opts) => {
    app.decorate<unknown>(key as string, build(app, opts));
  };
  return fp(plugin, serviceMeta(key));
}
