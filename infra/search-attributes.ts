// Custom search attributes on a Temporal namespace: which of the wanted ones are missing, and
// registering them. A workflow that upserts an unregistered attribute fails its workflow task
// over and over, so readiness checks this and test servers register them first.
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes.js';
import type { temporal } from '@temporalio/proto';

const GRPC_UNIMPLEMENTED = 12;

/** name → type as the Temporal CLI spells it ("Keyword", "Int", …). */
export type SearchAttributeSpec = Readonly<Record<string, string>>;

/** The part of a Connection or NativeConnection this needs. */
export interface OperatorConnection {
  operatorService: Pick<temporal.api.operatorservice.v1.OperatorService, 'listSearchAttributes' | 'addSearchAttributes'>;
}

export async function missingSearchAttributes(conn: OperatorConnection, namespace: string, wanted: SearchAttributeSpec): Promise<string[]> {
  const { customAttributes } = await conn.operatorService.listSearchAttributes({ namespace });
  const have = customAttributes ?? {};
  return Object.entries(wanted)
    .filter(([name, type]) => have[name] !== encodeSearchAttributeIndexedValueType(type.toUpperCase() as 'KEYWORD'))
    .map(([name]) => name);
}

/** Registers the missing ones; answers their names. */
export async function registerSearchAttributes(conn: OperatorConnection, namespace: string, wanted: SearchAttributeSpec): Promise<string[]> {
  // The time-skipping test server registers attributes but cannot list them: register them all.
  const missing = await missingSearchAttributes(conn, namespace, wanted).catch((err: unknown) => {
    if ((err as { code?: unknown }).code === GRPC_UNIMPLEMENTED) return Object.keys(wanted);
    throw err;
  });
  if (missing.length === 0) return [];
  const searchAttributes = Object.fromEntries(missing.map((name) => {
    const type = encodeSearchAttributeIndexedValueType(wanted[name]!.toUpperCase() as 'KEYWORD');
    if (type === undefined) throw new Error(`search attribute ${name}: unknown type "${wanted[name]}"`);
    return [name, type];
  }));
  await conn.operatorService.addSearchAttributes({ namespace, searchAttributes });
  return missing;
}
