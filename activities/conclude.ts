// Steps 6-8 on the container host as one activity: collect the evidence, remove the scenario's
// containers, score. The three always run on the same host, one after the other; as separate
// activities each cost three history events and a workflow task (bench/history.ts). Together
// they keep their order and their idempotence: a retried attempt whose predecessor already
// removed the containers keeps the evidence that predecessor collected instead of recollecting
// from containers that are gone.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { Context } from '@temporalio/activity';
import { MANIFEST_FILE } from '../infra/evidence-manifest.ts';
import { resultsDir, resultsKey, RESULTS } from '../infra/results.ts';
import type { ArtifactStore } from '../infra/artifact-store.ts';
import type { ScoreResult } from '../infra/verdict.ts';
import type { Template } from '../infra/template.ts';
import { uploadEvidence, type EvidenceRequest } from './collect-evidence.ts';
import { isNotFound } from './launch-and-teardown.ts';

export interface ConcludeRequest {
  evidence: EvidenceRequest;
  teardown: { containerName?: string; scenarioId?: string };
  /** present when a completion was accepted: the scorer runs over the evidence */
  score?: { scenarioId: string; template: Template; templateDigest: string };
}

export interface Concluded {
  evidence: { manifestSha256: string; files: number } | { kept: true };
  scored?: { score: ScoreResult; scoreSha256: string };
}

export function createConcludeActivities(deps: {
  docker: Docker;
  storageDir: string;
  store?: ArtifactStore | undefined;
  collectEvidence(req: EvidenceRequest): Promise<{ manifestSha256: string; files: number }>;
  teardownContainer(req: { containerName?: string; scenarioId?: string }): Promise<void>;
  score(req: { scenarioId: string; template: Template; templateDigest: string }): Promise<{ score: ScoreResult; scoreSha256: string }>;
}) {
  /** An earlier attempt collected the evidence and went on to remove the container. */
  async function collectedBefore(req: EvidenceRequest): Promise<boolean> {
    const manifest = join(resultsDir(deps.storageDir, req.scenarioId), RESULTS.evidenceDir, MANIFEST_FILE);
    // The manifest is written, and uploaded, last: where it is, the whole evidence is.
    const stored = existsSync(manifest) || (deps.store?.remote === true && await deps.store.exists(resultsKey(req.scenarioId, `${RESULTS.evidenceDir}/${MANIFEST_FILE}`)));
    if (!stored) return false;
    try {
      await deps.docker.getContainer(req.containerName).inspect();
      return false;
    } catch (err) {
      if (isNotFound(err)) return true;
      throw err;
    }
  }

  return {
    async concludeScenario(req: ConcludeRequest): Promise<Concluded> {
      const kept = Context.current().info.attempt > 1 && await collectedBefore(req.evidence);
      try {
        const evidence = kept ? { kept: true as const } : await deps.collectEvidence(req.evidence);
        // The earlier attempt may have stopped partway through its upload: the working copy is whole.
        if (kept && deps.store?.remote && existsSync(join(resultsDir(deps.storageDir, req.evidence.scenarioId), RESULTS.evidenceDir, MANIFEST_FILE))) {
          await uploadEvidence(deps.store, deps.storageDir, req.evidence.scenarioId);
        }
        await deps.teardownContainer(req.teardown);
        const scored = req.score ? await deps.score(req.score) : undefined;
        return scored ? { evidence, scored } : { evidence };
      } finally {
        // With a remote store this host's copy is only a working copy: what retention deletes from
        // the store must not live on here. A retry recollects, or scores a download of the store's.
        if (deps.store?.remote) rmSync(resultsDir(deps.storageDir, req.evidence.scenarioId), { recursive: true, force: true });
      }
    },
  };
}
