// What makes two containers interchangeable before anyone is in them: the pool key. A pooled
// entry may serve a scenario only if it was made from the same template version (digest), under
// the same policy bundle, on the same runtime, with the same hardening, member for member, as the
// cold launch of that scenario would get. Everything per scenario (names, labels, environment) is
// left out: names are given by the claim's renames, labels cannot change, and the environment is
// empty for every scenario container (what is per subject is injected after the claim).
import { canonicalJson, sha256Hex } from '../../lib/canonical-json.ts';
import { scenarioContainerName } from '../../contract/containers.ts';
import type { PodMember } from '../container-spec.ts';

export interface PoolKeyInput {
  templateDigest: string;
  policySha256: string;
  runtime: string;
  members: readonly PodMember[];
  /**
   * The image id each tag resolves to on this host: a tag rebuilt from the same template version
   * (another busybox in its context) is another image, and a pooled container of the old one
   * must not serve a launch that checks for the new one.
   */
  images?: Readonly<Record<string, string>>;
}

/** A member's create options with everything per scenario taken out (see the file's header). */
export function hardeningOf(member: PodMember, images: Readonly<Record<string, string>> = {}): Record<string, unknown> {
  const { name: _name, Labels: _labels, Env: _env, ...rest } = member.spec;
  if (rest.Image !== undefined && images[rest.Image] !== undefined) rest.Image = images[rest.Image];
  const hc = rest.HostConfig ?? {};
  // A service joins its pod's holder by the holder's name, which is per scenario.
  const networkMode = hc.NetworkMode?.startsWith('container:') ? 'container:<holder>' : hc.NetworkMode;
  return { member: member.name, role: member.role, main: member.main, spec: { ...rest, HostConfig: { ...hc, NetworkMode: networkMode } } };
}

/** sha256 (first 16 hex) of canonical JSON {templateDigest, policySha256, runtime, hardening}. */
export function poolKey(input: PoolKeyInput): string {
  return sha256Hex(canonicalJson({
    templateDigest: input.templateDigest,
    policySha256: input.policySha256,
    runtime: input.runtime,
    hardening: input.members.map((m) => hardeningOf(m, input.images)),
  })).slice(0, 16);
}

/** The pseudo scenario id a pooled entry's containers are named by: arbiter-pool-<key>-<entry>… */
export function poolScenarioId(key: string, entry: string): string {
  return `pool-${key}-${entry}`;
}

/** What each member's name adds to the main's (the main: '', the holder: '-pod', a service: '-svc-<name>'). */
export function memberSuffixes(members: readonly PodMember[], scenarioId: string): string[] {
  const main = scenarioContainerName(scenarioId);
  return members.map((m) => {
    if (!m.containerName.startsWith(main)) throw new Error(`member ${m.containerName} is not named after ${main}`);
    return m.containerName.slice(main.length);
  });
}
