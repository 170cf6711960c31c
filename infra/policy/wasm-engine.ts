// The spawn gate's engines: the compiled Rego policy (policies/arbiter/spawn) evaluated
// in-process from the Wasm bundle that scripts/build-policy.sh produces, or, with OPA_URL,
// an OPA server (infra/policy/remote-engine.ts). Kept free of Temporal imports so the same
// engine backs the activity, the API's readiness check and the tests.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPolicy as loadOpaWasm } from '@open-policy-agent/opa-wasm';
import type { PolicyDecision, PolicyInput } from '../../lib/policy-types.ts';
import { decisionFrom, deny, describe, POLICY_ENTRYPOINT, type PolicyEngine } from './decision.ts';
import { connectRemotePolicy, type RemotePolicyOptions } from './remote-engine.ts';

export { POLICY_ENTRYPOINT, type PolicyEngine } from './decision.ts';

export const DEFAULT_POLICY_DIR = fileURLToPath(new URL('../../.data/policy', import.meta.url));

// The module's memory is never shrunk, so without a ceiling one oversized input would
// keep the worker's footprint inflated for its whole life. 1024 pages = 64 MiB; an input
// that needs more fails to evaluate, which evaluate() turns into a deny.
const MAX_MEMORY_PAGES = 1024;

/**
 * The engine the configuration asks for: the OPA server when `remote` is given (OPA_URL),
 * else the Wasm bundle in `dir`. Either way `expectedSha256` (ARBITER_POLICY_SHA256) pins
 * the policy, and a mismatch rejects, which stops the process.
 */
export async function openPolicy(opts: { dir?: string | undefined; expectedSha256?: string | undefined; remote?: Omit<RemotePolicyOptions, 'expectedSha256'> | undefined }): Promise<PolicyEngine> {
  if (opts.remote) return connectRemotePolicy({ ...opts.remote, expectedSha256: opts.expectedSha256 });
  return loadPolicy(opts.dir ?? DEFAULT_POLICY_DIR, opts.expectedSha256 !== undefined ? { expectedSha256: opts.expectedSha256 } : {});
}

function bundleSha256(wasm: Buffer, data: Buffer): string {
  return createHash('sha256').update(wasm).update(data).digest('hex');
}

/**
 * The sha256 a policy engine loaded from `dir` reports (and so every decision it makes carries),
 * without loading it: what a container host keys its warm pools on.
 */
export async function policyBundleSha256(dir: string = DEFAULT_POLICY_DIR): Promise<string> {
  const [wasm, data] = await Promise.all([readFile(join(dir, 'policy.wasm')), readFile(join(dir, 'data.json'))]);
  return bundleSha256(wasm, data);
}

/**
 * The in-process engine. Its sha256 is taken over the bytes of policy.wasm immediately
 * followed by the bytes of data.json, exactly as they sit on disk: reproducible with
 * `cat policy.wasm data.json | sha256sum`, printed by scripts/build-policy.sh. Both files
 * count because the plan catalogue in data.json decides as much as the rules do.
 */
export async function loadPolicy(
  dir: string = DEFAULT_POLICY_DIR,
  opts: { expectedSha256?: string } = {},
): Promise<PolicyEngine> {
  const wasmPath = join(dir, 'policy.wasm');
  const dataPath = join(dir, 'data.json');
  const [wasm, dataBytes] = await Promise.all([readFile(wasmPath), readFile(dataPath)]);

  const sha256 = bundleSha256(wasm, dataBytes);
  // Checked before the module is instantiated, so an unexpected bundle is never run.
  if (opts.expectedSha256 !== undefined && opts.expectedSha256.toLowerCase() !== sha256) {
    throw new Error(
      `policy sha256 mismatch in ${dir}: expected ${opts.expectedSha256}, found ${sha256}`,
    );
  }

  let data: unknown;
  try {
    data = JSON.parse(dataBytes.toString('utf8'));
  } catch (err) {
    throw new Error(`policy data ${dataPath} is not valid JSON: ${describe(err)}`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new Error(`policy data ${dataPath} must be a JSON object`);
  }

  const policy = await loadOpaWasm(wasm, { initial: 5, maximum: MAX_MEMORY_PAGES });
  // Checked once here so a bundle built with the wrong -e fails at startup, not as a
  // deny on every spawn. (The package types this map as any.)
  const entrypoints = policy.entrypoints as Record<string, number>;
  if (!Object.hasOwn(entrypoints, POLICY_ENTRYPOINT)) {
    throw new Error(
      `${wasmPath} has no entrypoint ${POLICY_ENTRYPOINT} (has: ${Object.keys(entrypoints).join(', ') || 'none'})`,
    );
  }
  policy.setData(data);

  return {
    source: `wasm ${dir}`,
    sha256,
    evaluate(input: PolicyInput): Promise<PolicyDecision> {
      let resultSet: unknown;
      try {
        resultSet = policy.evaluate(input, POLICY_ENTRYPOINT);
      } catch (err) {
        return Promise.resolve(deny(`policy evaluation failed: ${describe(err)}`, sha256));
      }
      // One result whose `result` is the decision document; anything else is undefined.
      const doc = Array.isArray(resultSet) && resultSet.length === 1 ? (resultSet[0] as { result?: unknown } | null)?.result : undefined;
      return Promise.resolve(decisionFrom(doc, sha256));
    },
  };
}
