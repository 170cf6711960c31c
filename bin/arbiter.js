#!/usr/bin/env node
// Entry point of the `arbiter` command: runs the TypeScript CLI through tsx, after loading the
// dev env file the bootstrap generates (variables already set in the environment win).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

const envFile = process.env.ARBITER_ENV_FILE ?? fileURLToPath(new URL('../.data/dev.env', import.meta.url));
if (existsSync(envFile)) process.loadEnvFile(envFile);
register();
await import('../cli/main.ts');
