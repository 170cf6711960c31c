#!/usr/bin/env node
// Entry point of the `arbiter` command: loads the dev env file the bootstrap generates (variables
// already set in the environment win), then runs the prebuilt CLI bundle when it matches the
// sources (bin/cli-bundle.js), else the TypeScript CLI through tsx.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freshBundle } from './cli-bundle.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const envFile = process.env.ARBITER_ENV_FILE ?? fileURLToPath(new URL('../.data/dev.env', import.meta.url));
if (existsSync(envFile)) process.loadEnvFile(envFile);
const bundle = process.env.ARBITER_CLI_SOURCES === '1' ? { fresh: false } : freshBundle(root);
if (bundle.fresh) {
  await import(pathToFileURL(bundle.path).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../cli/main.ts');
}
