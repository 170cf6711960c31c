// Which code the `arbiter` command runs: the prebuilt bundle (scripts/build-cli.ts) when it was
// built from the sources as they are now, else the TypeScript sources through tsx. The bundle
// starts in a fraction of the time (tsx's hooks see every one of ~800 modules on each run); the
// check keeps an edited source from being shadowed by a stale bundle.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const BUNDLE = 'dist/cli.mjs';
export const INPUTS = 'dist/cli.inputs.json';

/**
 * The bundle's path when it is fresh, else why not. `root` is the repository (or install) folder;
 * the inputs file lists the sources the bundle was built from, relative to it.
 */
export function freshBundle(root) {
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
