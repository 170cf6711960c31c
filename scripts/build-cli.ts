// npm run build:cli: bundles the `arbiter` command into dist/cli.mjs (run by the bootstrap), with
// dist/cli.inputs.json listing the sources it came from, so bin/arbiter.js uses it only while
// none of them has changed. dockerode and tar-fs stay outside (loaded only by `images build`), and
// so does pkcs11js, a native module (loaded only with ARBITER_SIGNER=pkcs11).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { BUNDLE, INPUTS } from '../bin/cli-bundle.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
mkdirSync(join(ROOT, 'dist'), { recursive: true });
const result = await build({
  entryPoints: [join(ROOT, 'cli', 'main.ts')],
  outfile: join(ROOT, BUNDLE),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['dockerode', 'tar-fs', 'pkcs11js'],
  // CommonJS dependencies inside an ES module bundle still call require.
  banner: { js: "import { createRequire as __arbiterCreateRequire } from 'node:module'; const require = __arbiterCreateRequire(import.meta.url);" },
  metafile: true,
  logLevel: 'warning',
});
// Own sources by path; dependencies through the lockfile (an upgrade rewrites it).
const own = Object.keys(result.metafile.inputs).filter((f) => !f.includes('node_modules/')).map((f) => relative(ROOT, join(ROOT, f)));
const files = [...own, 'package-lock.json'].sort();
writeFileSync(join(ROOT, INPUTS), `${JSON.stringify({ files }, null, 2)}\n`);
console.log(`✓ CLI bundle: ${BUNDLE} (${own.length} sources, ${Object.keys(result.metafile.inputs).length - own.length} dependency modules)`);
