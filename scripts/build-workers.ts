// npm run build:workers: bundles the long-running processes, workers/main.ts,
// workers/container.ts and api/server.ts, into dist/main-worker.mjs, dist/container-worker.mjs
// and dist/api-server.mjs (run by the bootstrap), each with dist/<name>.inputs.json listing the
// sources it came from, so scripts/stack.sh and the bench run a bundle with plain `node` only
// while none of them has changed (bin/cli-bundle.js), else the sources through tsx.
//
// Why: tsx's loader (a thread of its own and its transform cache) costs each process about 40 MB
// of RSS; a bundle run by plain node has neither.
//
// Packages stay outside the bundles and load from node_modules as they would from the sources:
// the Temporal SDK's native core, the workflow bundler (webpack, used when there is no prebuilt
// workflow bundle) and the packages that read their own files need their real paths.
//
// Our own modules find files next to them with `new URL(…, import.meta.url)` (the workflow
// sources, the prebuilt workflow bundle, templates/, .data/policy, infra/holder-image, the
// subject page and verifier sources). In a bundle every module would share the bundle's URL, and
// a module two folders deep (infra/policy/, api/subject-page/) would resolve to the wrong place:
// each module's `import.meta.url` is rewritten to its own source file's URL, computed from the
// bundle's location at run time, so every such path resolves exactly as it does from the sources.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { bundleFiles, PROCESS_BUNDLES } from '../bin/cli-bundle.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Each own module's import.meta.url becomes its source file's URL, relative to the bundle. */
function sourceUrls(outDir: string): Plugin {
  return {
    name: 'arbiter-source-import-meta-url',
    setup(b) {
      b.onLoad({ filter: /\.[cm]?[jt]s$/ }, (args) => {
        if (args.path.includes(`${join('node_modules', '')}`)) return undefined;
        const text = readFileSync(args.path, 'utf8');
        if (!text.includes('import.meta.url')) return undefined;
        const fromBundle = relative(outDir, args.path).split('\\').join('/');
        const url = `new URL(${JSON.stringify(fromBundle)}, import.meta.url).href`;
        return { contents: text.replaceAll('import.meta.url', url), loader: args.path.endsWith('ts') ? 'ts' : 'js', resolveDir: dirname(args.path) };
      });
    },
  };
}

export async function buildProcessBundles(root = ROOT): Promise<void> {
  mkdirSync(join(root, 'dist'), { recursive: true });
  for (const [name, { source: entry }] of Object.entries(PROCESS_BUNDLES)) {
    const { bundle, inputs } = bundleFiles(name);
    const outfile = join(root, bundle);
    const result = await build({
      entryPoints: [join(root, entry)],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      plugins: [sourceUrls(dirname(outfile))],
      // Kept readable: stack traces in the logs then name the functions of the sources.
      keepNames: true,
      metafile: true,
      logLevel: 'warning',
    });
    // Own sources by path; dependencies through the lockfile (an upgrade rewrites it).
    const own = Object.keys(result.metafile.inputs).filter((f) => !f.includes('node_modules/')).map((f) => relative(root, join(root, f)));
    writeFileSync(join(root, inputs), `${JSON.stringify({ files: [...own, 'package-lock.json'].sort() }, null, 2)}\n`);
    console.log(`✓ ${name} bundle: ${bundle} (${own.length} sources)`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildProcessBundles();
