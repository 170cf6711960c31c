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

/** The long-running processes' bundles (scripts/build-workers.ts) and the entry point of each. */
export const PROCESS_BUNDLES = {
  'main-worker': 'workers/main.ts',
  'container-worker': 'workers/container.ts',
  'api-server': 'api/server.ts',
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
 * The node arguments that run one of PROCESS_BUNDLES: its bundle when fresh, else its source
 * through tsx. `ARBITER_SOURCES=1` always runs the sources.
 */
export function processEntry(root, name, env = process.env) {
  const source = PROCESS_BUNDLES[name];
  if (!source) throw new Error(`unknown bundle ${name} (known: ${Object.keys(PROCESS_BUNDLES).join(', ')})`);
  const found = env.ARBITER_SOURCES === '1' ? { fresh: false, reason: 'ARBITER_SOURCES=1' } : freshBundle(root, name);
  return found.fresh
    ? { args: [found.path], bundled: true }
    : { args: ['--import', 'tsx', join(root, source)], bundled: false, reason: found.reason };
}
