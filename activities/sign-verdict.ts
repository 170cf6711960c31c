// Signing and the per-scenario audit log. The workflow owns the list of audit events (it is the
// only writer that survives crashes); these activities turn it into the chained file and the
// signed verdict. Both are deterministic, so a retry rewrites identical bytes.
import { mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { buildChain, serializeChain, type AuditEvent } from '../lib/audit-chain.ts';
import { canonicalJson } from '../lib/canonical-json.ts';
import { sha256Hex } from '../infra/sha256.ts';
import { MANIFEST_FILE } from '../infra/evidence-manifest.ts';
import type { Signer } from '../infra/keys.ts';
import type { PolicyDecision } from '../lib/policy-types.ts';
import { resultsDir, RESULTS } from '../infra/results.ts';
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

function writeAtomic(file: string, data: string | Buffer) {
  writeFileSync(`${file}.tmp`, data, { mode: 0o644 });
  renameSync(`${file}.tmp`, file);
}

export function createVerdictActivities(deps: { storageDir: string; signer: Signer }) {
  function writeAuditFile(scenarioId: string, events: AuditEvent[]): string {
    const dir = resultsDir(deps.storageDir, scenarioId);
    mkdirSync(dir, { recursive: true });
    const chain = buildChain(events);
    writeAtomic(join(dir, RESULTS.audit), serializeChain(chain));
    return chain.at(-1)?.hash ?? '';
  }

  async function writeAudit(req: { scenarioId: string; events: AuditEvent[] }): Promise<{ head: string }> {
    return { head: writeAuditFile(req.scenarioId, req.events) };
  }

  async function signVerdict(req: SignRequest): Promise<{ keyId: string; auditHead: string; statementSha256: string }> {
    const { input, entitlement } = req;
    const dir = resultsDir(deps.storageDir, input.scenarioId);
    const auditHead = writeAuditFile(input.scenarioId, req.events);
    const scoreBytes = readFileSync(join(dir, RESULTS.score));
    const score = JSON.parse(scoreBytes.toString('utf8')) as ScoreResult;
    const manifestSha = sha256Hex(readFileSync(join(dir, RESULTS.evidenceDir, MANIFEST_FILE)));
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
    writeAtomic(join(dir, RESULTS.verdict), statementJson);
    writeAtomic(join(dir, RESULTS.envelope), JSON.stringify(envelope, null, 2));
    return { keyId: deps.signer.keyId, auditHead, statementSha256: sha256Hex(statementJson) };
  }

  return { writeAudit, signVerdict };
}
