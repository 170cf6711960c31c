// The global operator audit log: every operator action (hold, release, cancel, force-complete,
// completion token issued, deletion by retention, key rotation) as one hash-chained JSONL file
// under storage/audit/, in the same entry format as a scenario's audit log, so `arbiter audit
// verify` checks both.
//
// The API, the main worker (retention deletions) and the CLI (key rotation) are separate
// processes that append to the same file. ChainedLogFile serializes appends in-process with a
// promise queue and across processes with an exclusive lock, and re-reads the head under that
// lock before each append, so concurrent writers never fork the chain. One instance per file and
// process shares the in-process queue instead of leaning on the lock for every local append.
//
// Its head is anchored in Temporal (`audit-anchor-operator`, infra/log-anchor.ts): every writer
// passes its Temporal client, so truncating or rewriting the log together with its `.head` file
// is caught by `arbiter audit verify`.
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { AuditEntry } from '../lib/audit-chain.ts';
import { ChainedLogFile } from './chained-log.ts';
import { LogAnchor } from './log-anchor.ts';

export const OPERATOR_AUDIT_FILE = join('audit', 'operator.jsonl');

export function operatorAuditPath(storageDir: string): string {
  return join(storageDir, OPERATOR_AUDIT_FILE);
}

export type OperatorAction =
  | 'scenario.hold'
  | 'scenario.release'
  | 'scenario.cancel'
  | 'scenario.force_complete'
  | 'scenario.completion_token'
  | 'scenario.deleted'
  | 'keys.generated'
  | 'keys.rotated'
  | 'retention.sweep';

export interface OperatorRecord {
  /** who acted: `operator:<sub>`, `retention`, `cli:<user>` */
  actor: string;
  action: OperatorAction;
  scenarioId?: string;
  data?: Record<string, unknown>;
}

/**
 * Where a writer appends: the storage folder, and the Temporal client that moves the log's anchor.
 * Without a client (only `arbiter keys generate` before Temporal runs, and tests of the file alone)
 * the entry is written unanchored, and the next anchored append anchors it.
 */
export interface OperatorLogTarget { storageDir: string; temporal: Client | undefined }

const unanchored = new Map<string, ChainedLogFile>();
const anchored = new WeakMap<Client, Map<string, ChainedLogFile>>();

export function operatorAuditLog(target: OperatorLogTarget): ChainedLogFile {
  const file = operatorAuditPath(target.storageDir);
  const { temporal } = target;
  let logs = temporal ? anchored.get(temporal) : unanchored;
  if (!logs) {
    logs = new Map();
    anchored.set(temporal!, logs);
  }
  let log = logs.get(file);
  if (!log) {
    log = new ChainedLogFile(file, temporal ? new LogAnchor(temporal, 'operator') : undefined);
    logs.set(file, log);
  }
  return log;
}

export function recordOperatorAction(target: OperatorLogTarget, r: OperatorRecord, now = new Date()): Promise<AuditEntry> {
  const data = { ...(r.scenarioId ? { scenarioId: r.scenarioId } : {}), ...r.data };
  return operatorAuditLog(target).append({
    time: now.toISOString(),
    actor: r.actor,
    event: r.action,
    ...(Object.keys(data).length ? { data } : {}),
  });
}
