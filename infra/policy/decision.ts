// What both policy engines (in-process Wasm, remote OPA server) promise, and the one place
// that turns whatever an engine produced into a decision. Anything short of a well-formed
// decision document is a deny that says why: the gate fails closed.
import { NO_ACCESS, type AccessGrant, type PolicyDecision, type PolicyInput } from '../../lib/policy-types.ts';

/** The rule both engines evaluate; must match `-e` in scripts/build-policy.sh. */
export const POLICY_ENTRYPOINT = 'arbiter/spawn/decision';

export interface PolicyEngine {
  /** How decisions are made, for logs: "wasm <dir>" or "opa <url>". */
  readonly source: string;
  /**
   * sha256 (hex) identifying the policy: the Wasm bundle's hash in-process (see
   * loadPolicy), the bundle revision the server last reported in remote mode.
   */
  readonly sha256: string;
  /** Never rejects: a failed or empty evaluation is a deny whose reason says so. */
  evaluate(input: PolicyInput): Promise<PolicyDecision>;
}

export function deny(reason: string, policySha256: string): PolicyDecision {
  return { allow: false, reasons: [reason], policySha256 };
}

/** `doc` is the value of the decision rule, or undefined when the rule was undefined. */
export function decisionFrom(doc: unknown, policySha256: string): PolicyDecision {
  if (!isRecord(doc)) return deny('policy returned no decision', policySha256);
  const { allow, reasons } = doc;
  if (typeof allow !== 'boolean' || !Array.isArray(reasons) || !reasons.every((r): r is string => typeof r === 'string')) {
    return deny('policy returned no decision', policySha256);
  }
  // allow with reasons attached contradicts the policy's own contract; refuse rather than
  // guess which half is right.
  return { allow: allow && reasons.length === 0, reasons: [...reasons], policySha256, access: accessFrom(doc.access) };
}

/** Grants exactly as the policy stated them; anything malformed grants nothing. */
function accessFrom(v: unknown): AccessGrant {
  if (!isRecord(v)) return { ...NO_ACCESS };
  const { exec, files, terminal, terminalSessions } = v;
  const sessions = typeof terminalSessions === 'number' && Number.isInteger(terminalSessions) && terminalSessions > 0 ? terminalSessions : 0;
  return { exec: exec === true, files: files === true, terminal: terminal === true && sessions > 0, terminalSessions: terminal === true ? sessions : 0 };
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// opa-wasm throws bare strings as well as Errors.
export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
