// Retention's side effects: recording holds and releases, and deleting a scenario's artifacts
// while keeping a tombstone and its audit log. Every step can be re-run after a crash: events
// carry a key and are appended once; the tombstone is written before anything is removed and is
// reused on a retry, so a retried deletion reports the same time and verdict digest.
import { ApplicationFailure } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { appendEvent, serializeChain, verifyChainText, type AuditEntry, type AuditEvent } from '../lib/audit-chain.ts';
import { auditedEnd } from '../lib/audited-end.ts';
import { sha256Hex } from '../infra/sha256.ts';
import { recordOperatorAction, type OperatorAction } from '../infra/operator-audit.ts';
import { resultsKey, RESULTS } from '../infra/results.ts';
import { tombstoneKey } from '../infra/retention-storage.ts';
import { deleteTree, LocalArtifactStore, type ArtifactStore } from '../infra/artifact-store.ts';
import type { DsseEnvelope } from '../infra/verdict.ts';
import type { Tombstone } from '../contract/retention.ts';

export interface RetentionEvent extends AuditEvent {
  /** unique per event: a retried activity appends it once */
  key: string;
}

/**
 * Appends events after the chain already on disk (the verdict recorded its head; later entries
 * are legitimate continuations), skipping any whose key is already there. A chain that no longer
 * verifies is not extended: that would bury the damage under new entries.
 */
export async function appendToScenarioAudit(store: ArtifactStore, scenarioId: string, events: readonly RetentionEvent[]): Promise<string> {
  const key = resultsKey(scenarioId, RESULTS.audit);
  // One writer per scenario: its retention workflow, one activity at a time.
  const text = (await store.get(key))?.toString('utf8') ?? '';
  const check = verifyChainText(text);
  if (!check.ok) {
    throw ApplicationFailure.nonRetryable(`the audit log of ${scenarioId} is broken (${check.reason}): an operator must look at it before retention goes on`, 'AuditBroken');
  }
  const chain = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEntry);
  const seen = new Set(chain.map((e) => e.data?.key).filter((k) => typeof k === 'string'));
  const added: AuditEntry[] = [];
  for (const e of events) {
    if (seen.has(e.key)) continue;
    const entry = appendEvent(chain, { time: e.time, actor: e.actor, event: e.event, data: { ...e.data, key: e.key } });
    chain.push(entry);
    added.push(entry);
    seen.add(e.key);
  }
  // The entries already there keep their exact bytes; only new lines are added after them.
  if (added.length) await store.put(key, (text && !text.endsWith('\n') ? `${text}\n` : text) + serializeChain(added));
  return chain.at(-1)?.hash ?? '';
}

const OPERATOR_ACTIONS: Record<string, OperatorAction> = { 'retention.hold': 'scenario.hold', 'retention.release': 'scenario.release' };

export function createRetentionActivities(deps: { storageDir: string; temporal: Client; store?: ArtifactStore | undefined }) {
  const store = deps.store ?? new LocalArtifactStore(deps.storageDir);
  /** Holds and releases, in the scenario's audit log and the operator audit log. */
  async function recordRetentionEvents(req: { scenarioId: string; events: RetentionEvent[] }): Promise<{ head: string }> {
    const head = await appendToScenarioAudit(store, req.scenarioId, req.events);
    // The operator log is appended at least once: a retry after a crash right here may repeat an
    // entry, recognisable by its key.
    for (const e of req.events) {
      const action = OPERATOR_ACTIONS[e.event];
      if (action) await recordOperatorAction(deps, { actor: e.actor, action, scenarioId: req.scenarioId, data: { ...e.data, key: e.key } }, new Date(e.time));
    }
    return { head };
  }

  async function expireScenario(req: { scenarioId: string; time: string; actor: string; reason: string; key: string }): Promise<Tombstone> {
    const results = resultsKey(req.scenarioId);
    const tombKey = tombstoneKey(req.scenarioId);
    // The first level under results/: the files and folders the tombstone names as removed.
    const topLevel = async () => [...new Set((await store.list(results)).map((k) => k.slice(results.length + 1).split('/')[0]!))].filter((n) => n !== RESULTS.audit).sort();
    let tomb: Tombstone;
    const stored = await store.get(tombKey);
    if (stored) {
      tomb = JSON.parse(stored.toString('utf8')) as Tombstone;
      if (tomb.auditHead) return tomb;
    } else {
      const endedAs = auditedEnd(parseChain((await store.get(resultsKey(req.scenarioId, RESULTS.audit)))?.toString('utf8') ?? ''))?.status;
      tomb = { scenarioId: req.scenarioId, deletedAt: req.time, actor: req.actor, reason: req.reason, ...(endedAs ? { endedAs } : {}), verdict: await verdictDigests(store, req.scenarioId), removed: await topLevel() };
      // First the tombstone, then the deletion: a crash in between leaves a record of what went.
      await store.put(tombKey, JSON.stringify(tomb, null, 2) + '\n');
    }
    // The audit log stays: it says what happened to the scenario, including this deletion.
    for (const name of await topLevel()) {
      const key = `${results}/${name}`;
      if (await store.exists(key)) await store.delete(key);
      else await deleteTree(store, key);
    }
    const data = { reason: tomb.reason, verdictEnvelopeSha256: tomb.verdict?.envelopeSha256 ?? null, removed: tomb.removed };
    tomb.auditHead = await appendToScenarioAudit(store, req.scenarioId, [{ time: tomb.deletedAt, actor: tomb.actor, event: 'retention.deleted', data, key: req.key }]);
    await recordOperatorAction(deps, { actor: tomb.actor, action: 'scenario.deleted', scenarioId: req.scenarioId, data: { ...data, key: req.key } }, new Date(tomb.deletedAt));
    await store.put(tombKey, JSON.stringify(tomb, null, 2) + '\n');
    return tomb;
  }

  return { recordRetentionEvents, expireScenario };
}

/** The entries of an audit log, [] when there is none; a damaged one stops the deletion later, in appendToScenarioAudit. */
function parseChain(text: string): AuditEntry[] {
  try {
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEntry);
  } catch {
    return [];
  }
}

async function verdictDigests(store: ArtifactStore, scenarioId: string): Promise<Tombstone['verdict']> {
  const bytes = await store.get(resultsKey(scenarioId, RESULTS.envelope));
  if (!bytes) return null;
  const statement = await store.get(resultsKey(scenarioId, RESULTS.verdict));
  let keyId: string | null = null;
  try {
    keyId = (JSON.parse(bytes.toString('utf8')) as DsseEnvelope).signatures?.[0]?.keyid ?? null;
  } catch {
    // a damaged envelope is still deleted; its digest says what it was
  }
  return {
    envelopeSha256: sha256Hex(bytes),
    statementSha256: statement ? sha256Hex(statement) : null,
    keyId,
  };
}
