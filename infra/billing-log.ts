// Where the billing log lives: every accepted receipt, hash-chained, with its head recorded beside
// it and anchored in Temporal (`audit-anchor-billing`) when a client is given (the API always does).
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { ChainedLogFile } from './chained-log.ts';
import { LogAnchor } from './log-anchor.ts';

export function billingLogPath(storageDir: string): string {
  return join(storageDir, 'billing', 'receipts.jsonl');
}

export function billingLog(storageDir: string, temporal?: Client): ChainedLogFile {
  return new ChainedLogFile(billingLogPath(storageDir), temporal ? new LogAnchor(temporal, 'billing') : undefined);
}
