// Writes the prebuilt workflow bundle (dist/workflow-bundle.js, or the path given as the first
// argument) that workers load instead of bundling the sources at start: the production images
// build it once. It includes Arbiter's workflow interceptors. A worker started from a checkout
// with dist/ present uses it too, so delete dist/ after changing workflows/ locally.
// ARBITER_WORKFLOW_BUNDLE is what a worker loads, so it must name a file that exists: it is not
// where this script writes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DEFAULT_WORKFLOW_BUNDLE } from '../infra/config.ts';
import { bundleWorkflows } from '../workers/workers.ts';

const out = process.argv[2] ? resolve(process.argv[2]) : DEFAULT_WORKFLOW_BUNDLE;
const { code } = await bundleWorkflows();
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, code);
console.log(`✓ workflow bundle: ${out} (${Math.round(code.length / 1024)} KiB)`);
