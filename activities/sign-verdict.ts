// Signing and the per-scenario audit log. The workflow owns the list of audit events (it is the
// only writer that survives crashes); these activities turn it into the chained file and the
// signed verdict. Both are deterministic, so a retry rewrites identical bytes. They read and write
// through the artifact store: the score and evidence manifest were uploaded by the container host.
import { ApplicationFailure } from '@temporalio/activity';
import { buildChain, serializeChain, type AuditEvent } from '../lib/audit-chain.ts';
import { canonicalJson } from '../lib/canonical-json.ts';
import { sha256Hex } from '../infra/sha256.ts';
import { MANIFEST_FILE } from '../infra/evidence-manifest.ts';
import type { Signer } from '../infra/keys.ts';
import type { PolicyDecision } from '../lib/policy-types.ts';
import { resultsKey, RESULTS } from '../infra/results.ts';
import { LocalArtifactStore, type ArtifactStore } from '../infra/artifact-store.ts';
import type { ScoreResult } from '../infra/verdict.ts';
import { buildStatement, signStatement } from '../infra/verdict.ts';
import type { ScenarioInput } from '../contract/scenario.ts';
import type { Entitlement } from './check-entitlements.ts';

export interface SignRequest {
  input: ScenarioInput;
  entitlement: Entitlement;
  policy: PolicyDecision;
  outcome: string;
  status: 'scored';
  issuedAt: string;
  events: AuditEvent[];
}

export function createVerdictActivities(deps: { storageDir: string; signer: Signer; store?: ArtifactStore }) {
  const store = deps.store ?? new LocalArtifactStore(deps.storageDir);
  async function writeAuditFile(scenarioId: string, events: AuditEvent[]): Promise<string> {
    const chain = buildChain(events);
    await store.put(resultsKey(scenarioId, RESULTS.audit), serializeChain(chain));
    return chain.at(-1)?.hash ?? '';
  }

  /** An artifact the host uploaded; missing means the host's upload never completed, which a retry cannot fix here. */
  async function stored(scenarioId: string, name: string): Promise<Buffer> {
    const bytes = await store.get(resultsKey(scenarioId, name));
    if (!bytes) throw ApplicationFailure.retryable(`${name} of ${scenarioId} is not in the artifact store (${store.description})`, 'ArtifactMissing');
    return bytes;
  }

  async function writeAudit(req: { scenarioId: string; events: AuditEvent[] }): Promise<{ head: string }> {
    return { head: await writeAuditFile(req.scenarioId, req.events) };
  }

  async function signVerdict(req: SignRequest): Promise<{ keyId: string; auditHead: string; statementSha256: string }> {
    const { input, entitlement } = req;
    const auditHead = await writeAuditFile(input.scenarioId, req.events);
    const scoreBytes = await stored(input.scenarioId, RESULTS.score);
    const score = JSON.parse(scoreBytes.toString('utf8')) as ScoreResult;
    const manifestSha = sha256Hex(await stored(input.scenarioId, `${RESULTS.evidenceDir}/${MANIFEST_FILE}`));
    const statement = buildStatement(
      {
        scenarioId: input.scenarioId,
        subject: input.subject,
        tenant: input.tenant,
        plan: entitlement.plan,
        track: input.track,
        template: { id: entitlement.template.id, version: entitlement.template.version, digest: entitlement.templateDigest },
        policy: { sha256: req.policy.policySha256, allow: req.policy.allow },
        outcome: req.outcome,
        status: req.status,
        score: { score: score.score, maxScore: score.maxScore, passed: score.passed },
        auditHead,
        issuedAt: req.issuedAt,
        keyId: deps.signer.keyId,
      },
      { score: sha256Hex(scoreBytes), manifest: manifestSha },
    );
    const envelope = await signStatement(statement, deps.signer);
    const statementJson = canonicalJson(statement);
    await store.put(resultsKey(input.scenarioId, RESULTS.verdict), statementJson);
    await store.put(resultsKey(input.scenarioId, RESULTS.envelope), JSON.stringify(envelope, null, 2));
    return { keyId: deps.signer.keyId, auditHead, statementSha256: sha256Hex(statementJson) };
  }

  return { writeAudit, signVerdict };
}
