// The shape of a pre-launch policy question and its answer. Pure types: shared by the
// workflow (which records the decision), the policy activity and the Rego tests' fixtures.

export interface PolicyInput {
  subject: string;
  tenant: string;
  plan: string;
  track: string;
  template: { id: string; version: string; tracks: string[] };
}

export interface PolicyDecision {
  allow: boolean;
  /** every reason for a deny; empty when allowed */
  reasons: string[];
  /** sha256 (hex) of the policy bundle that decided */
  policySha256: string;
}
