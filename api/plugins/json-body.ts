// A cap on how deeply a JSON body may nest. Bodies are parsed before any handler runs, and several
// consumers walk them recursively (Temporal's payload converter, JSON.stringify, the completion
// digest): a 64 KiB body of nested brackets is thousands of levels deep and overflows their stack,
// which would surface as a 500. Nothing in the contract nests anywhere near this deep.
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { BadRequestError } from '../../lib/errors.ts';

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

export default fp(async function bodyDepth(app: FastifyInstance) {
  app.addHook('preValidation', async (request) => {
    if (request.body !== null && typeof request.body === 'object' && jsonDepth(request.body, MAX_BODY_DEPTH) > MAX_BODY_DEPTH) {
      throw new BadRequestError(`the body nests deeper than ${MAX_BODY_DEPTH} levels`, 'body_too_deep');
    }
  });
}, { name: 'arbiter-body-depth' });
