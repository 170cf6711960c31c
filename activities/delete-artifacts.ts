// Retention's side effects: recording holds and releases, and deleting a scenario's artifacts
// while keeping a tombstone and its audit log. Every step can be re-run after a crash: events
// carry a key and are appended once; the tombstone is written before anything is removed and is
// reused on a retry, so a retried deletion reports the same time and verdict digest.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { appendEvent, serializeChain, verifyChainText, type AuditEntry, type AuditEvent } from '../lib/audit-chain.ts';
import { auditedEnd } from '../lib/audited-end.ts';
import { sha256Hex } from '../infra/sha256.ts';
import { recordOperatorAction, type OperatorAction } from '../infra/operator-audit.ts';
import { resultsDir, RESULTS, scenarioDir } from '../infra/results.ts';
import { tombstonePath } from '../infra/retention-storage.ts';
import type { DsseEnvelope } from '../infra/verdict.ts';
import type { Tombstone } from '../contract/retention.ts';

export interface RetentionEvent extends AuditEvent {
  /** unique per event: a retried activity appends it once */
  key: string;
}

function writeAtomic(file: string, data: string) {
  writeFileSync(`${file}.tmp`, data, { mode: 0o644 });
  renameSync(`${file}.tmp`, file);
}

/**
 * Appends events after the chain already on disk (the verdict recorded its head; later entries
 * are legitimate continuations), skipping any whose key is already there. A chain that no longer
 * verifies is not extended: that would bury the damage under new entries.
 */
export function appendToScenarioAudit(storageDir: string, scenarioId: string, events: readonly RetentionEvent[]): string {
  const dir = resultsDir(storageDir, scenarioId);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, RESULTS.audit);
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
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
  if (added.length) writeAtomic(file, (text && !text.endsWith('\n') ? `${text}\n` : text) + serializeChain(added));
  return chain.at(-1)?.hash ?? '';
}

const OPERATOR_ACTIONS: Record<string, OperatorAction> = { 'retention.hold': 'scenario.hold', 'retention.release': 'scenario.release' };

export function createRetentionActivities(deps: { storageDir: string; temporal: Client }) {
  /** Holds and releases, in the scenario's audit log and the operator audit log. */
  async function recordRetentionEvents(req: { scenarioId: string; events: RetentionEvent[] }): Promise<{ head: string }> {
    const head = appendToScenarioAudit(deps.storageDir, req.scenarioId, req.events);
    // The operator log is appended at least once: a retry after a crash right here may repeat an
    // entry, recognisable by its key.
    for (const e of req.events) {
      const action = OPERATOR_ACTIONS[e.event];
      if (action) await recordOperatorAction(deps, { actor: e.actor, action, scenarioId: req.scenarioId, data: { ...e.data, key: e.key } }, new Date(e.time));
    }
    return { head };
  }

  async function expireScenario(req: { scenarioId: string; time: string; actor: string; reason: string; key: string }): Promise<Tombstone> {
    const results = resultsDir(deps.storageDir, req.scenarioId);
    const tombFile = tombstonePath(deps.storageDir, req.scenarioId);
    let tomb: Tombstone;
    if (existsSync(tombFile)) {
      tomb = JSON.parse(readFileSync(tombFile, 'utf8')) as Tombstone;
      if (tomb.auditHead) return tomb;
    } else {
      const removed = existsSync(results) ? readdirSync(results).filter((n) => n !== RESULTS.audit).sort() : [];
      const endedAs = auditedEnd(readChain(join(results, RESULTS.audit)))?.status;
      tomb = { scenarioId: req.scenarioId, deletedAt: req.time, actor: req.actor, reason: req.reason, ...(endedAs ? { endedAs } : {}), verdict: verdictDigests(results), removed };
      mkdirSync(scenarioDir(deps.storageDir, req.scenarioId), { recursive: true });
      // First the tombstone, then the deletion: a crash in between leaves a record of what went.
      writeAtomic(tombFile, JSON.stringify(tomb, null, 2) + '\n');
    }
    // The audit log stays: it says what happened to the scenario, including this deletion.
    if (existsSync(results)) {
      for (const name of readdirSync(results)) if (name !== RESULTS.audit) rmSync(join(results, name), { recursive: true, force: true });
    }
    const data = { reason: tomb.reason, verdictEnvelopeSha256: tomb.verdict?.envelopeSha256 ?? null, removed: tomb.removed };
    tomb.auditHead = appendToScenarioAudit(deps.storageDir, req.scenarioId, [{ time: tomb.deletedAt, actor: tomb.actor, event: 'retention.deleted', data, key: req.key }]);
    await recordOperatorAction(deps, { actor: tomb.actor, action: 'scenario.deleted', scenarioId: req.scenarioId, data: { ...data, key: req.key } }, new Date(tomb.deletedAt));
    writeAtomic(tombFile, JSON.stringify(tomb, null, 2) + '\n');
    return tomb;
  }

  return { recordRetentionEvents, expireScenario };
}

/** The entries of an audit log, [] when there is none; a damaged one stops the deletion later, in appendToScenarioAudit. */
function readChain(file: string): AuditEntry[] {
  if (!existsSync(file)) return [];
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEntry);
  } catch {
    return [];
  }
}

function verdictDigests(results: string): Tombstone['verdict'] {
  const envFile = join(results, RESULTS.envelope);
  if (!existsSync(envFile)) return null;
  const bytes = readFileSync(envFile);
  const statementFile = join(results, RESULTS.verdict);
  let keyId: string | null = null;
  try {
    keyId = (JSON.parse(bytes.toString('utf8')) as DsseEnvelope).signatures?.[0]?.keyid ?? null;
  } catch {
    // a damaged envelope is still deleted; its digest says what it was
  }
  return {
    envelopeSha256: sha256Hex(bytes),
    statementSha256: existsSync(statementFile) ? sha256Hex(readFileSync(statementFile)) : null,
    keyId,
  };
}
