import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { canonicalJson } from '../../lib/canonical-json.ts';
import { completionDigest, isSameCompletion, legacyCompletionForm } from '../../lib/completion-digest.ts';

void describe('completionDigest', () => {
  void it('is the sha256 of the canonical {outcome, submission}, so it holds nothing of the submission', () => {
    const req = { outcome: 'success', submission: { answer: 'hunter2', nested: { b: 1, a: [true, null] } } };
    const digest = completionDigest(req);
    assert.equal(digest, createHash('sha256').update(canonicalJson({ outcome: req.outcome, submission: req.submission })).digest('hex'));
    assert.match(digest, /^[0-9a-f]{64}$/);
    assert.doesNotMatch(digest, /hunter2/);
  });

  void it('when the same completion is sent with its keys in another order, the digest is the same; any other change gives another digest', () => {
    fc.assert(fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.constantFrom('success', 'failure', 'gave_up'), (submission, outcome) => {
      const shuffled = Object.fromEntries(Object.entries(submission).reverse());
      assert.equal(completionDigest({ outcome, submission: shuffled }), completionDigest({ outcome, submission }));
      assert.notEqual(completionDigest({ outcome, submission: { ...submission, ['\u0000extra']: 1 } }), completionDigest({ outcome, submission }));
    }));
  });

  void it('isSameCompletion compares a recorded legacy fingerprint in the legacy form, and a digest as a digest', () => {
    const req = { outcome: 'success', submission: { b: 2, a: 1 } };
    assert.ok(isSameCompletion(legacyCompletionForm(req), req));
    assert.ok(isSameCompletion(completionDigest(req), req));
    assert.ok(!isSameCompletion(legacyCompletionForm(req), { ...req, outcome: 'failure' }));
    assert.ok(!isSameCompletion(completionDigest(req), { ...req, submission: { a: 1 } }));
  });
});
