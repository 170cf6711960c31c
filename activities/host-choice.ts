// Which container host a new scenario goes to, from what each host last reported: pure, so the
// rule is tested without hosts (test/unit/host-choice.test.ts). The reports (contract/hosts.ts)
// are written and read by infra/host-reports.ts.
import { createHash } from 'node:crypto';
import type { HostReport } from '../contract/hosts.ts';

export type { HostReport };

export type HostChoice =
  | { hostId: string; free: number }
  | { none: string };

/**
 * The answering host with the most free capacity: its capacity less the scenarios it reported and
 * those sent to it since (`pending`, not yet in its report). A host answers when its last report
 * is at most `answerWithinMs` old. Capacity ranks hosts but refuses nothing: when every answering
 * host is full, the least overloaded one takes the scenario (the lease quota bounds the load, not
 * the host). Ties are broken by a stable hash of the scenario id, so a retry with nothing changed
 * picks the same host and equal hosts share the load.
 */
export function chooseHost(opts: {
  scenarioId: string;
  hosts: readonly string[];
  reports: ReadonlyMap<string, HostReport>;
  pending?: ReadonlyMap<string, number>;
  now: number;
  answerWithinMs: number;
}): HostChoice {
  const { hosts, reports, now, answerWithinMs } = opts;
  const answering: Array<{ hostId: string; free: number; tie: number }> = [];
  const silent: string[] = [];
  for (const hostId of hosts) {
    const r = reports.get(hostId);
    if (!r || now - r.reportedAt > answerWithinMs) {
      silent.push(r ? `${hostId} (last report ${Math.round((now - r.reportedAt) / 1000)}s ago)` : `${hostId} (never reported)`);
      continue;
    }
    const free = r.capacity - r.running - (opts.pending?.get(hostId) ?? 0);
    answering.push({ hostId, free, tie: tieBreak(opts.scenarioId, hostId) });
  }
  if (answering.length === 0) {
    return { none: `no container host is available: none answered in the last ${Math.round(answerWithinMs / 1000)}s (${silent.join(', ')})` };
  }
  answering.sort((a, b) => b.free - a.free || a.tie - b.tie || (a.hostId < b.hostId ? -1 : 1));
  const best = answering[0]!;
  return { hostId: best.hostId, free: best.free };
}

/** The host's place among equals for this scenario. */
function tieBreak(scenarioId: string, hostId: string): number {
  return createHash('sha256').update(`${scenarioId}\0${hostId}`).digest().readUInt32BE(0);
}

/** Hosts whose last report is older than `lostAfterMs`; one that never reported had no scenario to lose. */
export function lostHosts(opts: { hosts: readonly string[]; reports: ReadonlyMap<string, HostReport>; now: number; lostAfterMs: number }): string[] {
  return opts.hosts.filter((h) => {
    const r = opts.reports.get(h);
    return r !== undefined && opts.now - r.reportedAt > opts.lostAfterMs;
  });
}
