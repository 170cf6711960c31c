#!/bin/sh
# Scores a log-triage scenario from its evidence, mounted read-only at /evidence. The answer was
# written by the subject inside the scenario container: it is untrusted bytes, so it is only read
# with the shell's `read` (first line, at most what the evidence collector kept) and compared with
# fixed strings, never evaluated or used as a pattern.
# Output contract: exactly one line of compact JSON on stdout, checks in a fixed order.
E=${EVIDENCE_DIR:-/evidence}
ANSWER="$E/files/work/answer.txt"
EXPECTED_IP=203.0.113.77
EXPECTED_USER=deploy

written=false ip_ok=false user_ok=false
ip='' user=''
if [ -f "$ANSWER" ] && [ -s "$ANSWER" ]; then
  written=true
  read -r ip user _ < "$ANSWER"
fi
[ "$ip" = "$EXPECTED_IP" ] && ip_ok=true
[ "$user" = "$EXPECTED_USER" ] && user_ok=true

score=0
for c in $written $ip_ok $user_ok; do [ "$c" = true ] && score=$((score + 1)); done
passed=false
[ "$score" -eq 3 ] && passed=true

printf '{"score":%d,"maxScore":3,"passed":%s,"checks":[{"name":"answerWritten","passed":%s},{"name":"attackerIp","passed":%s},{"name":"compromisedAccount","passed":%s}]}\n' \
  "$score" "$passed" "$written" "$ip_ok" "$user_ok"
exit 0
