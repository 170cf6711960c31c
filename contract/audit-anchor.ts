// The audit anchor's contract (one entity workflow per shared hash-chained log): the anchored
// head, the links an appender sends to move it, and the update that moves it only forward.
import { defineQuery, defineUpdate } from '@temporalio/workflow';

/** The logs anchored outside themselves: the operator audit log and the billing log. */
export type AnchoredLog = 'operator' | 'billing';
export const auditAnchorWorkflowId = (log: AnchoredLog): string => `audit-anchor-${log}`;

/** The anchored prefix of the log: how many entries, and the hash of the last (GENESIS_HASH for none). */
export interface AnchorState { length: number; head: string }

/** One entry of the log as the anchor sees it: its place and hashes, none of its content. */
export interface AnchorLink { seq: number; prev: string; hash: string }

/** At most this many links per update: a large catch-up goes in several, each payload stays small. */
export const MAX_LINKS_PER_UPDATE = 500;

export const advanceAnchorUpdate = defineUpdate<AnchorState, [AnchorLink[]]>('advanceAnchor');
export const anchorQuery = defineQuery<AnchorState>('anchor');
