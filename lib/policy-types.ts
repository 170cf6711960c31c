// The shape of a pre-launch policy question and its answer. Pure types: shared by the
// workflow (which records the decision), the policy activity, both policy engines and the
// tests. policies/arbiter/spawn/shape checks the same shape on the Rego side.

/**
 * What the spawn asks for: the template's limits capped by the plan (the entitlement's
 * effective limits). The plan's ceilings in data.plans bound each of them.
 */
export interface RequestedLimits {
  memoryMb: number;
  cpus: number;
  pids: number;
  ttlSeconds: number;
}

export interface PolicyTemplate {
  id: string;
  version: string;
  /** content digest recorded when the version was published */
  digest: string;
  /** the tracks the version is published for */
  tracks: string[];
  limits: RequestedLimits;
  /** the network the template asks for; anything but "none" is refused */
  network: string;
  /** the OCI runtime the template asks for: "runc" or "runsc"; the plan must allow it */
  runtime: string;
}

export interface PolicyMount {
  /** "bind", "volume", "volumes-from", or a Docker mount type such as "npipe" */
  type: string;
  /** host path, volume name ("" for an anonymous volume) or container name */
  source: string;
  target: string;
  readOnly: boolean;
}

/**
 * The isolation the container is about to get, derived from the Docker create options the
 * launch will send (activities/isolation-settings.ts), so the policy judges what will be
 * applied rather than what was meant.
 */
export interface IsolationSettings {
  /** the OCI runtime: "runc" or "runsc" (gVisor) */
  runtime: string;
  networkMode: string;
  networkDisabled: boolean;
  readonlyRootfs: boolean;
  privileged: boolean;
  /** "uid:gid" as passed to Docker; "" means the image's default user */
  user: string;
  capDrop: string[];
  capAdd: string[];
  noNewPrivileges: boolean;
  /** "default" (the engine's profile), "unconfined", or "custom" */
  seccomp: string;
  /** Docker's mode per namespace: "" (engine default, private), "private", "host", "container:<id>" … */
  namespaces: { pid: string; ipc: string; uts: string; userns: string; cgroupns: string };
  /** host devices, device requests and device cgroup rules, one entry each */
  devices: string[];
  /** binds, volumes and volumes-from; size-limited tmpfs mounts are not listed */
  mounts: PolicyMount[];
  /** pids: the cgroup limit (runc); nproc: the hard RLIMIT_NPROC (gVisor counts it per sandbox); 0 = none */
  resources: { memoryMb: number; memorySwapMb: number; cpus: number; pids: number; nproc: number };
}

/** One container of the scenario as the policy sees it (activities/container-spec.ts podMembers). */
export interface PolicyService {
  name: string;
  role: 'service' | 'holder';
  main: boolean;
  required: boolean;
  containerName: string;
  isolation: IsolationSettings;
}

export interface PolicyInput {
  subject: string;
  tenant: string;
  plan: string;
  track: string;
  template: PolicyTemplate;
  /** the main service's container */
  isolation: IsolationSettings;
  /** every container the launch creates, in launch order (the namespace holder first, if any) */
  services: PolicyService[];
}

/** What the plan lets the subject do inside the running scenario (policies/arbiter/spawn/access). */
export interface AccessGrant {
  exec: boolean;
  files: boolean;
  terminal: boolean;
  /** terminal sessions open at once */
  terminalSessions: number;
}

export const NO_ACCESS: AccessGrant = { exec: false, files: false, terminal: false, terminalSessions: 0 };

export interface PolicyDecision {
  allow: boolean;
  /** absent in decisions recorded before access existed: nothing granted */
  access?: AccessGrant;
  /** every reason for a deny, sorted; empty when allowed */
  reasons: string[];
  /**
   * sha256 (hex) of the policy bundle that decided: the Wasm bundle's hash in-process, and
   * in remote mode the revision the OPA server reported with this decision (build-policy.sh
   * sets it to the same hash).
   */
  policySha256: string;
  /** the question that was answered, so history and evidence show what was judged */
  input?: PolicyInput;
}
