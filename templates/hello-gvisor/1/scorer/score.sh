#!/bin/sh
# Scores the evidence of a stopped hello scenario, mounted read-only at /evidence.
# Output contract: exactly one line of compact JSON on stdout, keys and checks in a fixed order,
# so the same evidence always yields byte-identical output (the verdict signs it).
# A missing or unreadable file fails its check instead of failing the scorer.
E=${EVIDENCE_DIR:-/evidence}

started=false
grep -q 'hello, arbiter' "$E/container.log" 2>/dev/null && started=true

# Tolerates whitespace around the colon so pretty-printed submissions score the same.
answered=false
grep -Eq '"answer"[[:space:]]*:[[:space:]]*"hello"' "$E/submission.json" 2>/dev/null && answered=true

score=0
[ "$started" = true ] && score=$((score + 1))
[ "$answered" = true ] && score=$((score + 1))
passed=false
[ "$score" -eq 2 ] && passed=true

printf '{"score":%d,"maxScore":2,"passed":%s,"checks":[{"name":"started","passed":%s},{"name":"answered","passed":%s}]}\n' \
  "$score" "$passed" "$started" "$answered"
exit 0
