// parseScorerOutput (activities/score.ts): the scorer's stdout becomes a score, or the run fails
// with a non-retryable ScorerFailed that says why.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { parseScorerOutput } from '../../activities/score.ts';

const VALID = { score: 2, maxScore: 3, passed: true, checks: [{ name: 'answer file exists', passed: true }, { name: 'answer is hello', passed: false }] };

/** Asserts parseScorerOutput rejects `stdout` with a non-retryable ScorerFailed; returns the failure. */
function rejects(stdout: string, message?: RegExp): ApplicationFailure {
  let caught: unknown;
  try {
    parseScorerOutput(stdout);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(caught)}`);
  assert.equal(caught.type, 'ScorerFailed');
  assert.equal(caught.nonRetryable, true);
  if (message) assert.match(caught.message, message);
  return caught;
}

void describe('parseScorerOutput: accepted output', () => {
  void it('when stdout is one valid score line, that score is returned', () => {
    const score = parseScorerOutput(`${JSON.stringify(VALID)}\n`);

    assert.deepEqual(score, VALID);
  });

  void it('when stdout has log lines before the score, the last line is the score', () => {
    const stdout = ['checking /evidence ...', '{"note":"not the score"}', JSON.stringify(VALID), ''].join('\n');

    assert.deepEqual(parseScorerOutput(stdout), VALID);
  });

  void it('when two score lines are printed, the last one wins', () => {
    const first = { score: 0, maxScore: 1, passed: false, checks: [] };
    const last = { score: 1, maxScore: 1, passed: true, checks: [] };

    assert.deepEqual(parseScorerOutput(`${JSON.stringify(first)}\n${JSON.stringify(last)}\n`), last);
  });

  void it('when the score line is followed by blank lines and has CRLF endings, it is still found', () => {
    assert.deepEqual(parseScorerOutput(`log\r\n${JSON.stringify(VALID)}\r\n\r\n  \n`), VALID);
  });

  void it('when the score equals the maximum, it is accepted', () => {
    const full = { score: 5, maxScore: 5, passed: true, checks: [] };

    assert.deepEqual(parseScorerOutput(JSON.stringify(full)), full);
  });

  void it('when the score is 0 with fractional maximum, it is accepted', () => {
    const zero = { score: 0, maxScore: 0.5, passed: false, checks: [] };

    assert.deepEqual(parseScorerOutput(JSON.stringify(zero)), zero);
  });
});

void describe('parseScorerOutput: rejected output', () => {
  void it('when stdout is not JSON, it throws ScorerFailed quoting the last line', () => {
    rejects('Traceback (most recent call last):\n  boom\n', /boom/);
  });

  void it('when stdout is empty, it throws ScorerFailed', () => {
    rejects('');
  });

  void it('when a valid score is followed by a garbage line, the garbage (last) line is what counts and it throws', () => {
    rejects(`${JSON.stringify(VALID)}\ndone.\n`, /done\./);
  });

  void it('when the last line is very long garbage, the message quotes at most 200 characters of it', () => {
    const failure = rejects('x'.repeat(5000));

    assert.ok(failure.message.length < 400, `message is ${failure.message.length} characters`);
  });

  void it('when the score is above maxScore, it throws ScorerFailed', () => {
    rejects(JSON.stringify({ ...VALID, score: 4, maxScore: 3 }), /above/);
  });

  void it('when the score is negative, it throws ScorerFailed', () => {
    rejects(JSON.stringify({ ...VALID, score: -1 }));
  });

  void it('when maxScore is 0, it throws ScorerFailed', () => {
    rejects(JSON.stringify({ score: 0, maxScore: 0, passed: true, checks: [] }));
  });

  void it('when the score object has an extra property, it throws ScorerFailed', () => {
    rejects(JSON.stringify({ ...VALID, bonus: 10 }));
  });

  void it('when a check has an extra property, it throws ScorerFailed', () => {
    rejects(JSON.stringify({ ...VALID, checks: [{ name: 'a', passed: true, weight: 2 }] }));
  });

  for (const field of ['score', 'maxScore', 'passed', 'checks'] as const) {
    void it(`when "${field}" is missing, it throws ScorerFailed`, () => {
      const partial: Record<string, unknown> = { ...VALID };
      delete partial[field];

      rejects(JSON.stringify(partial));
    });
  }

  void it('when passed is the string "true", it throws ScorerFailed', () => {
    rejects(JSON.stringify({ ...VALID, passed: 'true' }));
  });

  void it('when score is a numeric string, it throws ScorerFailed', () => {
    rejects(JSON.stringify({ ...VALID, score: '2' }));
  });

  void it('when a check has an empty name, it throws ScorerFailed', () => {
    rejects(JSON.stringify({ ...VALID, checks: [{ name: '', passed: true }] }));
  });

  void it('when there are more than 256 checks, it throws ScorerFailed', () => {
    const checks = Array.from({ length: 257 }, (_, i) => ({ name: `c${i}`, passed: true }));

    rejects(JSON.stringify({ ...VALID, checks }));
  });

  void it('when the last line is a JSON array or a number, it throws ScorerFailed', () => {
    rejects(JSON.stringify([VALID]));
    rejects('42');
    rejects('null');
  });
});
