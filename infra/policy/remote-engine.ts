// Remote mode: with OPA_URL set, decisions come from an OPA server's REST API
// (POST {OPA_URL}/v1/data/arbiter/spawn/decision) instead of the in-process Wasm build.
//
// Which policy decided: the server is expected to run .data/policy/server-bundle.tar.gz,
// whose revision scripts/build-policy.sh sets to the Wasm bundle's sha256. Every request
// asks for provenance, and the revision the server reports with a decision is the hash
// recorded for that decision, so a server reloaded with another bundle is reported as
// such. A decision without exactly one bundle revision is a deny, as is one whose
// revision differs from ARBITER_POLICY_SHA256 when that is set; a mismatch found while
// connecting stops the process, as a mismatched local bundle does.
//
// Fail closed: a timeout, a refused connection, an HTTP error or an unreadable answer is
// a deny naming what went wrong.
import { DEFAULT_OPA_TIMEOUT_MS } from '../config.ts';
import type { PolicyDecision, PolicyInput } from '../../lib/policy-types.ts';
import { decisionFrom, deny, describe, isRecord, POLICY_ENTRYPOINT, type PolicyEngine } from './decision.ts';

export interface RemotePolicyOptions {
  /** the OPA server's base URL, e.g. http://127.0.0.1:8181 (OPA_URL, checked by loadConfig) */
  url: string;
  timeoutMs?: number;
  expectedSha256?: string | undefined;
}

type Answer = { ok: true; result: unknown; revision: string | undefined } | { ok: false; reason: string };

/**
 * Connects to the server once to learn which bundle it runs. Rejects when the server cannot
 * answer, has no spawn decision, reports no single bundle revision, or runs another bundle
 * than the pinned one.
 */
export async function connectRemotePolicy(opts: RemotePolicyOptions): Promise<PolicyEngine> {
  const base = opts.url.endsWith('/') ? opts.url : `${opts.url}/`;
  const endpoint = new URL(`v1/data/${POLICY_ENTRYPOINT}?provenance=true`, base);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_OPA_TIMEOUT_MS;
  const pinned = opts.expectedSha256?.toLowerCase();

  async function ask(input: PolicyInput | undefined): Promise<Answer> {
    let body: string;
    try {
      // As opa-wasm does, a falsy input is no input at all.
      body = JSON.stringify(input ? { input } : {});
    } catch (err) {
      return { ok: false, reason: describe(err) };
    }
    let status: number;
    let text: string;
    try {
      const res = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      status = res.status;
      text = await res.text();
    } catch (err) {
      return { ok: false, reason: transportFailure(err, timeoutMs) };
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { ok: false, reason: `policy server answered HTTP ${status} with a body that is not JSON` };
    }
    if (status !== 200) {
      const message = isRecord(json) && typeof json['message'] === 'string' ? json['message'] : '';
      return { ok: false, reason: `policy server answered HTTP ${status}${message ? `: ${message.slice(0, 300)}` : ''}` };
    }
    if (!isRecord(json)) return { ok: false, reason: 'policy server answered with something other than a JSON object' };
    return { ok: true, result: json['result'], revision: revisionOf(json['provenance']) };
  }

  const probe = await ask(undefined);
  if (!probe.ok) throw new Error(`policy server ${opts.url} cannot be used: ${probe.reason}`);
  if (probe.result === undefined) throw new Error(`policy server ${opts.url} has no ${POLICY_ENTRYPOINT}: is it running the bundle from scripts/build-policy.sh?`);
  if (probe.revision === undefined) {
    throw new Error(`policy server ${opts.url} reports no single bundle revision: load it with .data/policy/server-bundle.tar.gz (opa run --server --bundle …)`);
  }
  if (pinned !== undefined && probe.revision !== pinned) {
    throw new Error(`policy sha256 mismatch at ${opts.url}: expected ${pinned}, the server runs bundle revision ${probe.revision}`);
  }
  let current = probe.revision;

  return {
    source: `opa ${opts.url}`,
    get sha256() {
      return current;
    },
    async evaluate(input: PolicyInput): Promise<PolicyDecision> {
      const answer = await ask(input);
      if (!answer.ok) return deny(`policy evaluation failed: ${answer.reason}`, current);
      if (answer.revision === undefined) return deny('policy evaluation failed: the policy server reported no single bundle revision', current);
      if (pinned !== undefined && answer.revision !== pinned) {
        return deny(`policy evaluation failed: the policy server runs bundle revision ${answer.revision}, not the pinned ${pinned}`, answer.revision);
      }
      current = answer.revision;
      return decisionFrom(answer.result, answer.revision);
    },
  };
}

/** The revision of the one bundle that decided; undefined when there is not exactly one. */
function revisionOf(provenance: unknown): string | undefined {
  if (!isRecord(provenance) || !isRecord(provenance['bundles'])) return undefined;
  const bundles = Object.values(provenance['bundles']);
  if (bundles.length !== 1) return undefined;
  const revision = isRecord(bundles[0]) ? bundles[0]['revision'] : undefined;
  return typeof revision === 'string' && /^[0-9a-f]{64}$/.test(revision) ? revision : undefined;
}

function transportFailure(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return `the policy server did not answer within ${timeoutMs} ms`;
  }
  // undici reports "fetch failed" and puts the socket error in `cause`.
  const cause = err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  const detail = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : describe(err);
  return `the policy server could not be reached (${detail})`;
}
