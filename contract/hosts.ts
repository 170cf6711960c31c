// What a container host tells the rest of Arbiter about itself (infra/host-reports.ts writes and
// reads it): the main worker picks hosts by it and declares lost the hosts whose reports stopped.

/** Written by each container host every few seconds (workers/host-report.ts). */
export interface HostReport {
  hostId: string;
  /** scenarios with containers on the host now */
  running: number;
  /** its ARBITER_HOST_CAPACITY */
  capacity: number;
  /** when it wrote this, ms since the epoch */
  reportedAt: number;
}
