// Workflow ids of the entity workflows keyed by names a token carries (tenant, subject). Each id
// must name exactly one (tenant, subject): a collision lets one tenant hold another's quota or
// read its grants. Names are any string a token's schema allows (1 to 128 UTF-16 code units,
// '-', ':', '%', '/', any Unicode, even a lone surrogate), so each one is escaped into a form
// without ':' and the parts are joined with ':'.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';

/**
 * The longest readable id, in bytes: `limit.maxIDLength` of deploy/'s Temporal server. A longer
 * one becomes a digest of its parts (a tenant and a subject of 128 CJK characters each escape to
 * 2,300 bytes), which Temporal would otherwise refuse.
 */
export const MAX_WORKFLOW_ID_BYTES = 255;
/**
 * Temporal's default `limit.maxIDLength` (the dev server's): tenant entities with ids up to this
 * may exist there, and keep them; past it none could ever have been started.
 */
export const TEMPORAL_DEFAULT_MAX_ID_BYTES = 1000;

/**
 * encodeURIComponent, made total: it throws on a lone surrogate, which becomes `%uXXXX` here, a
 * form encodeURIComponent never emits ('u' is no hex digit). Every code point maps to its own
 * escape and UTF-8's escapes are prefix-free, so distinct names never escape alike; the result is
 * ASCII and holds neither ':' nor '/'. For a well-formed name it equals encodeURIComponent.
 */
export function idComponent(name: string): string {
  let out = '';
  for (const ch of name) {
    const unit = ch.charCodeAt(0);
    out += ch.length === 1 && unit >= 0xd800 && unit <= 0xdfff ? `%u${unit.toString(16).toUpperCase()}` : encodeURIComponent(ch);
  }
  return out;
}

/**
 * `<kind>:<part>:<part>…`, or `<kind>@sha256:<hex>` when that is too long for Temporal: the two
 * forms cannot meet ('@' is escaped inside a part and the readable form has ':' right after the
 * kind), and the digest covers the parts as a JSON array, itself unambiguous.
 */
function entityId(kind: string, parts: readonly string[]): string {
  const readable = [kind, ...parts.map(idComponent)].join(':');
  return readable.length <= MAX_WORKFLOW_ID_BYTES ? readable : digestId(kind, parts);
}

function digestId(kind: string, parts: readonly string[]): string {
  return `${kind}@sha256:${bytesToHex(sha256(utf8ToBytes(JSON.stringify(parts))))}`;
}

/** One quota entity per subject of a tenant. */
export const quotaWorkflowId = (tenant: string, subject: string): string => entityId('quota', [tenant, subject]);

/**
 * The id quota entities had before: `-` joined two escaped names and is not escaped itself, so
 * tenant `qx` / subject `corp-eve` and tenant `qx-corp` / subject `eve` shared one. Still read so
 * that leases taken there before the change count until they are released (api/services/quota.ts).
 * Undefined where no such entity can exist (a lone surrogate made the old escape throw; too long).
 */
export function legacyQuotaWorkflowId(tenant: string, subject: string): string | undefined {
  const id = `quota-${idComponent(tenant)}-${idComponent(subject)}`;
  return id.includes('%u') || id.length > TEMPORAL_DEFAULT_MAX_ID_BYTES ? undefined : id;
}

/**
 * One entitlement entity per tenant: a single escaped name after a fixed prefix is already
 * unambiguous, so the id existing tenants' grants live under is kept (`tenant-<escaped>`), up to
 * the length a dev server accepted. Between 256 and 1000 bytes deploy/'s server still refuses it,
 * as it did before; moving those ids would strand grants recorded on a dev server.
 */
export function tenantWorkflowId(tenant: string): string {
  const readable = `tenant-${idComponent(tenant)}`;
  return readable.length <= TEMPORAL_DEFAULT_MAX_ID_BYTES ? readable : digestId('tenant', [tenant]);
}
