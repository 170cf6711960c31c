// What a JSON value from outside must satisfy before anything hashes, signs or stores it.
// `JSON.parse` turns a literal like 1e400 into Infinity, which RFC 8785 cannot represent: the
// canonicalizer throws, and JSON.stringify silently writes null, so two different submissions
// would share one fingerprint. No Node APIs here: the workflow's update validator uses it too.

/** The JSON pointer of the first number JSON cannot represent canonically, or undefined when all are finite. */
export function nonFiniteNumberAt(value: unknown): string | undefined {
  // Iterative: the point is untrusted input, which may nest deeper than the stack allows.
  const stack: Array<[unknown, string]> = [[value, '']];
  while (stack.length) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return path || '/';
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    const entries: Array<[string, unknown]> = Array.isArray(v) ? v.map((x, i) => [String(i), x]) : Object.entries(v);
    for (const [k, child] of entries) stack.push([child, `${path}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`]);
  }
  return undefined;
}
