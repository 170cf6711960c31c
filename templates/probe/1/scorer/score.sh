#!/bin/sh
# Turns the probe's report into checks, one per isolation property, and adds the engine's view
# (isolation.json, written by the evidence collector from `docker inspect`) so that a report
# claiming isolation the engine did not apply still fails.
# The report was written inside the scenario container, so it is treated as untrusted bytes:
# read with `read` (one line), matched against fixed patterns with `case`, never evaluated.
# Output contract: exactly one line of compact JSON on stdout, checks in a fixed order.
E=${EVIDENCE_DIR:-/evidence}
report=''
[ -f "$E/files/work/probe.json" ] && read -r report < "$E/files/work/probe.json"
engine=''
[ -f "$E/isolation.json" ] && read -r engine < "$E/isolation.json"

# has TEXT PATTERN...: true when TEXT contains every pattern. Patterns are globs: [1-9] is a
# digit class, and a literal bracket is written \[ \].
has() {
  text=$1
  shift
  for p in "$@"; do
    case $text in *$p*) ;; *) echo false; return ;; esac
  done
  echo true
}

names='' results=''
check() { names="$names $1"; results="$results $2"; }

case $report in '{"probe":1,'*) check reported true ;; *) check reported false ;; esac
check loopbackOnly "$(has "$report" '"interfaces":\["lo"\]')"
check rootReadOnly "$(has "$report" '"rootWritable":false')"
check nonRoot "$(has "$report" '"uid":[1-9]')"
check noCapabilities "$(has "$report" '"capEff":"0000000000000000"' '"capBnd":"0000000000000000"')"
check noNewPrivileges "$(has "$report" '"noNewPrivs":1,')"
check seccompFiltering "$(has "$report" '"seccomp":2,')"
check forkBombContained "$(has "$report" '"forkBomb":{"refused":true,' '"pidsLimitHits":[1-9]')"
check memoryHogKilled "$(has "$report" '"memoryHog":{"exitCode":137,"oomKills":[1-9]')"
check engineNoNetwork "$(has "$engine" '"networkMode":"none"')"
check engineHardened "$(has "$engine" '"capAdd":\[\]' '"capDrop":\["ALL"\]' '"privileged":false' '"readonlyRootfs":true' 'no-new-privileges:true')"

score=0 max=0 checks='' passed=true
set -- $results
for n in $names; do
  r=$1
  shift
  max=$((max + 1))
  if [ "$r" = true ]; then score=$((score + 1)); else passed=false; fi
  checks="$checks${checks:+,}{\"name\":\"$n\",\"passed\":$r}"
done

printf '{"score":%d,"maxScore":%d,"passed":%s,"checks":[%s]}\n' "$score" "$max" "$passed" "$checks"
exit 0
