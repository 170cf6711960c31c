// Fixtures shared by the unit tests.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SecretRing } from '../../infra/config.ts';
import { UnauthorizedError } from '../../lib/errors.ts';

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'arbiter-'));
}

export function newRing(previous: Buffer[] = []): SecretRing {
  return { current: randomBytes(32), previous };
}

/** Asserts that a promise rejects with an UnauthorizedError carrying `code`; returns the error. */
export async function rejectsUnauthorized(
  promise: Promise<unknown>,
  code: 'token_invalid' | 'token_expired',
  message?: RegExp,
): Promise<UnauthorizedError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof UnauthorizedError, `expected an UnauthorizedError, got ${String(caught)}`);
  assert.equal(caught.code, code);
  assert.equal(caught.statusCode, 401);
  if (message) assert.match(caught.message, message);
  return caught;
}
