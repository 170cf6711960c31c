#!/bin/sh
# Scores a pooled-flag scenario from its evidence, mounted read-only at /evidence: the subject's
# answer (submission.json) must be the flag the host injected into this scenario, which the host
# recorded in claim.json before injecting it. The answer is untrusted bytes: it is only compared
# as a fixed string, never evaluated or used as a pattern.
# Output contract: exactly one line of compact JSON on stdout, checks in a fixed order.
E=${EVIDENCE_DIR:-/evidence}

flag=$(sed -n 's/.*"value": *"\(ARB{[0-9a-f]\{32\}}\)".*/\1/p' "$E/claim.json" 2>/dev/null | head -n 1)
injected=false
[ -n "$flag" ] && injected=true

answer=$(sed -n 's/.*"answer" *: *"\([^"]*\)".*/\1/p' "$E/submission.json" 2>/dev/null | head -n 1)
answered=false
[ "$injected" = true ] && [ "$answer" = "$flag" ] && answered=true

score=0
[ "$injected" = true ] && score=$((score + 1))
[ "$answered" = true ] && score=$((score + 1))
passed=false
[ "$score" -eq 2 ] && passed=true

printf '{"score":%d,"maxScore":2,"passed":%s,"checks":[{"name":"flagInjected","passed":%s},{"name":"flagSubmitted","passed":%s}]}\n' \
  "$score" "$passed" "$injected" "$answered"
exit 0
