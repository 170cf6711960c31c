// Where the billing log lives: every accepted receipt, hash-chained, with its head recorded.
import { join } from 'node:path';
import { ChainedLogFile } from './chained-log.ts';

export function billingLog(storageDir: string): ChainedLogFile {
  return new ChainedLogFile(join(storageDir, 'billing', 'receipts.jsonl'));
}
