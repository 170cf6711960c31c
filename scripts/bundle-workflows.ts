// Writes the prebuilt workflow bundle (dist/workflow-bundle.js) that workers load instead of
// bundling the sources at start: the production images build it once. It includes Arbiter's
// workflow interceptors. A worker started from a checkout with dist/ present uses it too, so
// delete dist/ after changing workflows/ locally.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { bundleWorkflows, PREBUILT_BUNDLE } from '../workers/workers.ts';

const { code } = await bundleWorkflows();
mkdirSync(dirname(PREBUILT_BUNDLE), { recursive: true });
writeFileSync(PREBUILT_BUNDLE, code);
console.log(`✓ workflow bundle: ${PREBUILT_BUNDLE} (${Math.round(code.length / 1024)} KiB)`);
