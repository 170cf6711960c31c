// Which code a command or process runs: a prebuilt bundle when it was built from the sources as
// they are now, else the TypeScript sources through tsx. The `arbiter` CLI (dist/cli.mjs,
// scripts/build-cli.ts) starts in a fraction of the time (tsx's hooks see every one of ~800
// modules on each run); the workers and the API (dist/main-worker.mjs, dist/container-worker.mjs,
// dist/api-server.mjs, scripts/build-workers.ts) also keep tsx's loader thread and transform
// cache out of their memory. The check keeps an edited source from being shadowed by a stale
// bundle.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** dist/<name>.mjs and the list of sources it was built from, dist/<name>.inputs.json */
export function bundleFiles(name) {
  return { bundle: `dist/${name}.mjs`, inputs: `dist/${name}.inputs.json` };
}

export const { bundle: BUNDLE, inputs: INPUTS } = bundleFiles('cli');

/**
 * The long-running processes' bundles (scripts/build-workers.ts): the entry point of each, and
 * the variables its process gets wherever it is started (scripts/stack.sh, the bench;
 * deploy/Dockerfile repeats them). A variable already set in the environment wins.
 */
export const PROCESS_BUNDLES = {
  'main-worker': {
    source: 'workers/main.ts',
    // glibc gives each thread that allocates (the Temporal core's Tokio threads, libuv's pool,
    // the workflow thread) an arena of its own, up to 8 per core, and keeps what each one freed:
    // the main worker's RSS with ~480 open scenarios was 405 MB with the default and 331 MB with
    // two arenas, at the same CPU (bench/open-scenarios.ts, README "Performance").
    env: { MALLOC_ARENA_MAX: '2' },
  },
  'container-worker': { source: 'workers/container.ts', env: {} },
  'api-server': { source: 'api/server.ts', env: {} },
};

/**
 * The bundle's path when it is fresh, else why not. `root` is the repository (or install) folder;
 * the inputs file lists the sources the bundle was built from, relative to it. `name` is the
 * bundle's (the CLI's by default).
 */
export function freshBundle(root, name = 'cli') {
  const { bundle: BUNDLE, inputs: INPUTS } = bundleFiles(name);
  let recorded;
  try {
    recorded = JSON.parse(readFileSync(join(root, INPUTS), 'utf8'));
  } catch {
    return { fresh: false, reason: `no ${INPUTS}` };
  }
  const bundle = join(root, BUNDLE);
  let builtAt;
  try {
    builtAt = statSync(bundle).mtimeMs;
  } catch {
    return { fresh: false, reason: `no ${BUNDLE}` };
  }
  if (!Array.isArray(recorded?.files)) return { fresh: false, reason: `${INPUTS} lists no files` };
  for (const file of recorded.files) {
    let changed;
    try {
      changed = statSync(join(root, file)).mtimeMs;
    } catch {
      return { fresh: false, reason: `${file} is gone` };
    }
    if (changed > builtAt) return { fresh: false, reason: `${file} changed after the bundle was built` };
  }
  return { fresh: true, path: bundle };
}

/**
 * How to run one of PROCESS_BUNDLES: node's arguments (its bundle when fresh, else its source
 * through tsx; `ARBITER_SOURCES=1` always runs the sources) and the variables to add.
 */
export function processEntry(root, name, env = process.env) {
  const known = PROCESS_BUNDLES[name];
  if (!known) throw new Error(`unknown bundle ${name} (known: ${Object.keys(PROCESS_BUNDLES).join(', ')})`);
  const found = env.ARBITER_SOURCES === '1' ? { fresh: false, reason: 'ARBITER_SOURCES=1' } : freshBundle(root, name);
  const extra = Object.fromEntries(Object.entries(known.env).filter(([k]) => env[k] === undefined));
  return found.fresh
    ? { args: [found.path], env: extra, bundled: true }
    : { args: ['--import', 'tsx', join(root, known.source)], env: extra, bundled: false, reason: found.reason };
}
