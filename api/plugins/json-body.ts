// What every parsed JSON body must satisfy before any handler or consumer sees it.
// - A cap on nesting: several consumers walk bodies recursively (Temporal's payload converter,
//   JSON.stringify, the completion digest), and a 64 KiB body of nested brackets is thousands of
//   levels deep and overflows their stack, which would surface as a 500. Nothing in the contract
//   nests anywhere near this deep.
// - Only numbers JSON can represent: 1e400 parses to Infinity, which canonical JSON (RFC 8785)
//   refuses, so it would fail wherever the body is later hashed or signed.
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { Readable } from 'node:stream';
import { BadRequestError } from '../../lib/errors.ts';
import { nonFiniteNumberAt } from '../../lib/json-value.ts';

export const MAX_BODY_DEPTH = 32;

/** The nesting depth of a parsed JSON value, walked without recursion (the point is deep input). */
export function jsonDepth(value: unknown, stopAfter = Infinity): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    const level = depth + 1;
    if (level > deepest) deepest = level;
    if (deepest > stopAfter) return deepest;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, level]);
  }
  return deepest;
}

export default fp(async function jsonBody(app: FastifyInstance) {
  app.addHook('preValidation', async (request) => {
    const body = request.body;
    // A file's raw bytes are no JSON: walking a Buffer's indices would cost a stack entry per byte
    // (measured: 800 MB of heap for a 4 MiB upload), and PUT /files passes its bytes on as a stream.
    if (body === null || typeof body !== 'object' || Buffer.isBuffer(body) || body instanceof Readable) return;
    if (jsonDepth(body, MAX_BODY_DEPTH) > MAX_BODY_DEPTH) {
      throw new BadRequestError(`the body nests deeper than ${MAX_BODY_DEPTH} levels`, 'body_too_deep');
    }
    const at = nonFiniteNumberAt(body);
    if (at !== undefined) {
      throw new BadRequestError(`the body holds a number JSON cannot represent (at ${at}): numbers must be finite`, 'number_not_representable');
    }
  });
}, { name: 'arbiter-json-body' });
