// Lint rules that keep workflow code deterministic (STYLE.md) and promises awaited everywhere.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

// The layering of README "Layout": which top-level folder may import which. A wrong-way import
// fails lint here rather than surfacing as a sandbox error in a workflow or a cycle between
// processes; test/unit/layering.test.ts checks that every rule still fires.
const LAYERS = ['contract', 'lib', 'workflows', 'infra', 'activities', 'api', 'cli', 'workers'];
// Relative to a file at any depth under its folder (api/routes/x.ts imports '../../infra/…').
const layerGlobs = (layer) => [1, 2, 3].map((depth) => `${'../'.repeat(depth)}${layer}/**`);
const builtinPaths = (why) => nodeBuiltins.map((name) => ({ name, message: why }));
// Packages that reach the file system, the network, the clock or Node's crypto on load or use.
const impurePackages = ['@temporalio/client', '@temporalio/worker', '@temporalio/activity', 'dockerode', 'prom-client', 'proper-lockfile', 'jose', 'pino', 'fastify', 'commander', '@open-policy-agent/opa-wasm'];
/**
 * forbidden: layers this folder may not import at all; typeOnly: layers it may import types from
 * only (`import type`); pure: no Node built-ins and no impure packages either; packages: more
 * restricted packages, each with its message.
 */
function layerRule(folder, { forbidden = [], typeOnly = [], pure = false, packages = [] }) {
  const where = `${folder}/ may not import`;
  return {
    files: [`${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [
          ...(pure ? builtinPaths(`${folder}/ is deterministic and sandbox-safe: no Node built-ins (README "Layout").`) : []),
          ...packages,
          ...(pure ? impurePackages : [])
            .filter((name) => !packages.some((p) => p.name === name))
            .map((name) => ({ name, message: `${where} ${name} (README "Layout").` })),
        ],
        patterns: [
          ...forbidden.map((layer) => ({ group: layerGlobs(layer), message: `${where} ${layer}/ (README "Layout").` })),
          ...typeOnly.map((layer) => ({ group: layerGlobs(layer), allowTypeImports: true, message: `${where} ${layer}/ at runtime, only its types (README "Layout").` })),
        ],
      }],
    },
  };
}
// Only workers run activities and workflows.
const workerSide = ['@temporalio/worker', '@temporalio/activity'].map((name) => ({ name, message: `${name} belongs to workers/ and activities/ (README "Layout").` }));
const except = (...allowed) => LAYERS.filter((l) => !allowed.includes(l));
const layerRules = [
  layerRule('contract', { forbidden: except('contract', 'lib'), pure: true }),
  layerRule('lib', { forbidden: except('lib', 'contract'), pure: true }),
  // Workflow code must be deterministic; it calls activities through proxyActivities, typed by them.
  layerRule('workflows', {
    forbidden: ['api', 'cli', 'workers'],
    typeOnly: ['activities', 'infra'],
    pure: true,
    packages: [
      { name: '@temporalio/client', message: 'Workflows cannot use the client.' },
      { name: '@temporalio/worker', message: 'Workflows cannot use the worker.' },
      { name: '@temporalio/activity', message: 'Workflows call activities through proxyActivities.' },
    ],
  }),
  layerRule('infra', { forbidden: except('infra', 'lib', 'contract') }),
  layerRule('activities', { typeOnly: ['api', 'cli', 'workers', 'workflows'] }),
  // The API starts workflows typed by their functions, and never runs activities or workers itself.
  layerRule('api', { forbidden: ['activities', 'cli', 'workers'], typeOnly: ['workflows'], packages: workerSide }),
  layerRule('cli', { forbidden: except('cli', 'infra', 'lib', 'contract'), packages: workerSide }),
  layerRule('workers', { forbidden: ['api', 'cli'] }),
];

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.data/', 'storage/', 'bench/results/', 'templates/**/image/', 'templates/**/scorer/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // node:test's describe/it return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'suite', 'test'] }] }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Fastify plugins and activity implementations are async by contract, awaited or not.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
    },
  },
  ...layerRules,
  { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
);
