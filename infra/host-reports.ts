// Where container hosts say how loaded they are and that they are alive: one small file per host
// in the storage folder every process already shares (storage/hosts/<hostId>.json), replaced
// whole by a rename so a reader never sees half of one.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HostReport } from '../contract/hosts.ts';

/** How often a host writes its report (workers/host-report.ts). */
export const HOST_REPORT_INTERVAL_MS = 2_000;
/** A host whose report is older than this gets no new scenarios. */
export const HOST_ANSWER_WITHIN_MS = 10_000;

const dirOf = (storageDir: string) => join(storageDir, 'hosts');

export function writeHostReport(storageDir: string, report: HostReport): void {
  const dir = dirOf(storageDir);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${report.hostId}.json`);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(report)}\n`);
  renameSync(tmp, file);
}

/** The last report of each of `hosts` that has one. */
export function readHostReports(storageDir: string, hosts: readonly string[]): Map<string, HostReport> {
  const reports = new Map<string, HostReport>();
  for (const hostId of hosts) {
    let text: string;
    try {
      text = readFileSync(join(dirOf(storageDir), `${hostId}.json`), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    const r = JSON.parse(text) as Partial<HostReport>;
    if (r.hostId === hostId && Number.isFinite(r.running) && Number.isFinite(r.capacity) && Number.isFinite(r.reportedAt)) reports.set(hostId, r as HostReport);
  }
  return reports;
}
