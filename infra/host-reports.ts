// Where container hosts say how loaded they are and that they are alive: one small object per host
// in the artifact store every process already reaches (hosts/<hostId>.json: the storage folder's
// storage/hosts/<hostId>.json by default, the bucket with ARBITER_ARTIFACT_STORE=s3), replaced
// whole on every report so a reader never sees half of one.
import type { ArtifactStore } from './artifact-store.ts';
import type { HostReport } from '../contract/hosts.ts';

/** How often a host writes its report (workers/host-report.ts). */
export const HOST_REPORT_INTERVAL_MS = 2_000;
/** A host whose report is older than this gets no new scenarios. */
export const HOST_ANSWER_WITHIN_MS = 10_000;

export const hostReportKey = (hostId: string): string => `hosts/${hostId}.json`;

export async function writeHostReport(store: ArtifactStore, report: HostReport): Promise<void> {
  await store.put(hostReportKey(report.hostId), `${JSON.stringify(report)}\n`);
}

/** The last report of each of `hosts` that has one. */
export async function readHostReports(store: ArtifactStore, hosts: readonly string[]): Promise<Map<string, HostReport>> {
  const reports = new Map<string, HostReport>();
  const read = await Promise.all(hosts.map(async (hostId) => [hostId, await store.get(hostReportKey(hostId))] as const));
  for (const [hostId, bytes] of read) {
    if (!bytes) continue;
    const r = JSON.parse(bytes.toString('utf8')) as Partial<HostReport>;
    if (r.hostId === hostId && Number.isFinite(r.running) && Number.isFinite(r.capacity) && Number.isFinite(r.reportedAt)) reports.set(hostId, r as HostReport);
  }
  return reports;
}
