// The spawn gate: evaluates the compiled Rego policy (policies/arbiter/spawn) in-process
// from the Wasm bundle produced by scripts/build-policy.sh. Kept free of Temporal imports
// so the same engine can back the activity, the API's dry-run and the unit tests.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPolicy as loadOpaWasm } from '@open-policy-agent/opa-wasm';
import type { PolicyDecision, PolicyInput } from '../lib/policy-types.ts';

export const DEFAULT_POLICY_DIR = fileURLToPath(new URL('../.data/policy', import.meta.url));

/** Must match `-e` in scripts/build-policy.sh. */
export const POLICY_ENTRYPOINT = 'arbiter/spawn/decision';

// The module's memory is never shrunk, so without a ceiling one oversized input would
// keep the worker's footprint inflated for its whole life. 1024 pages = 64 MiB; an input
// that needs more fails to evaluate, which evaluate() turns into a deny.
const MAX_MEMORY_PAGES = 1024;

export interface PolicyEngine {
  /**
   * sha256 (hex) of the bytes of policy.wasm immediately followed by the bytes of
   * data.json, exactly as they sit on disk. Reproducible from a shell with
   * `cat policy.wasm data.json | sha256sum`, and printed by scripts/build-policy.sh.
   * Both files are covered because the plan catalogue in data.json decides as much
   * as the rules do.
   */
  readonly sha256: string;
  /** Never throws: anything short of a well-formed decision is reported as a deny. */
  evaluate(input: PolicyInput): PolicyDecision;
}

export async function loadPolicy(
  dir: string = DEFAULT_POLICY_DIR,
  opts: { expectedSha256?: string } = {},
): Promise<PolicyEngine> {
  const wasmPath = join(dir, 'policy.wasm');
  const dataPath = join(dir, 'data.json');
  const [wasm, dataBytes] = await Promise.all([readFile(wasmPath), readFile(dataPath)]);

  const sha256 = createHash('sha256').update(wasm).update(dataBytes).digest('hex');
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

  const deny = (reason: string): PolicyDecision => ({
    allow: false,
    reasons: [reason],
    policySha256: sha256,
  });

  return {
    sha256,
    evaluate(input: PolicyInput): PolicyDecision {
      let resultSet: unknown;
      try {
        resultSet = policy.evaluate(input, POLICY_ENTRYPOINT);
      } catch (err) {
        return deny(`policy evaluation failed: ${describe(err)}`);
      }
      const decision = readDecision(resultSet);
      if (decision === undefined) return deny('policy returned no decision');
      // allow with reasons attached contradicts the policy's own contract; refuse
      // rather than guess which half is right.
      if (decision.allow && decision.reasons.length > 0) {
        return { allow: false, reasons: decision.reasons, policySha256: sha256 };
      }
      return { allow: decision.allow, reasons: decision.reasons, policySha256: sha256 };
    },
  };
}

/** The `decision` document from an opa-wasm result set, if it has the expected shape. */
function readDecision(resultSet: unknown): { allow: boolean; reasons: string[] } | undefined {
  if (!Array.isArray(resultSet) || resultSet.length !== 1) return undefined;
  const first: unknown = resultSet[0];
  if (!isRecord(first)) return undefined;
  const result = first['result'];
  if (!isRecord(result)) return undefined;
  const { allow, reasons } = result;
  if (typeof allow !== 'boolean') return undefined;
  if (!Array.isArray(reasons) || !reasons.every((r): r is string => typeof r === 'string')) {
    return undefined;
  }
  return { allow, reasons: [...reasons] };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// opa-wasm throws bare strings as well as Errors.
function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
