#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what is missing, then lint, typecheck, policy
# checks and every test (unit, workflow in the time-skipping server, end to end on the real
# Temporal dev server, Docker engine and API over loopback) in a single test-runner invocation.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

bash scripts/bootstrap.sh

say_do "lint (eslint)"
npx eslint --max-warnings=0 .
say_do "typecheck (tsc --noEmit)"
npx tsc --noEmit
say_do "policy checks (opa fmt, check --strict, test with coverage)"
bash scripts/policy-check.sh
say_do "secret scan of the tree"
bash scripts/secret-scan.sh
say_do "deploy compose file (compose config: no image pulled, nothing started)"
bash scripts/compose-check.sh

say_do "Inspect sandbox provider: unit tests (clients/inspect, in .data/inspect-venv)"
load_tools_env
"$INSPECT_PYTHON" clients/inspect/tests/test_mapping.py

say_do "tests"
# Two files at a time: the end-to-end, workflow and fault files each start their own Temporal server.
main_status=0
mkdir -p .data
node --import tsx --test --test-concurrency=2 --test-timeout=900000 \
  test/unit/*.test.ts test/api/*.test.ts test/replay/*.test.ts test/workflow/*.test.ts test/e2e/*.test.ts test/faults/*.test.ts test/fuzz/*.test.ts \
  | tee .data/test-main.out || main_status=${PIPESTATUS[0]}

# Alone, after the rest: 30 scenarios while it kills the workers and restarts the Temporal server
# and a Docker engine of its own (its timings and kill points must not compete with other files).
say_do "fault suite (alone)"
alone_status=0
node --import tsx --test --test-timeout=900000 test/faults/alone/*.test.ts | tee .data/test-alone.out || alone_status=${PIPESTATUS[0]}

# The production shape (scripts/cluster.sh: the Temporal server on PostgreSQL, two container hosts
# on engines of their own): the e2e files that run on it as they run on the dev server (same tests,
# other fixture: ARBITER_E2E_SHAPE=cluster), then the cluster's own tests (spread over both hosts;
# Temporal and PostgreSQL restarted under load). One file at a time: they share the one server.
# The cluster goes down afterwards whatever happened.
CLUSTER_E2E=(test/e2e/scenario.e2e.test.ts)
say_do "cluster shape: ${CLUSTER_E2E[*]} and test/cluster/ (scripts/cluster.sh)"
cluster_status=0
: >.data/test-cluster.out
trap 'bash scripts/cluster.sh down --remove-containers >/dev/null 2>&1 || true' EXIT
cluster_started=$SECONDS
if bash scripts/cluster.sh up; then
  ARBITER_E2E_SHAPE=cluster node --import tsx --test --test-concurrency=1 --test-timeout=900000 "${CLUSTER_E2E[@]}" test/cluster/*.test.ts \
    | tee .data/test-cluster.out || cluster_status=${PIPESTATUS[0]}
else
  cluster_status=1
fi
bash scripts/cluster.sh down --remove-containers || true
trap - EXIT
say_ok "cluster shape step: $((SECONDS - cluster_started)) s"

# One closing line for all runs, so the total is what a reader (or CI) sees last.
count() { local n; n=$(sed -n "s/^# $1 \([0-9]*\)$/\1/p" "$2" 2>/dev/null | tail -n 1); echo "${n:-0}"; }
passed=$(( $(count pass .data/test-main.out) + $(count pass .data/test-alone.out) + $(count pass .data/test-cluster.out) ))
failed=$(( $(count fail .data/test-main.out) + $(count fail .data/test-alone.out) + $(count fail .data/test-cluster.out) ))
echo
if ((failed > 0 || main_status != 0 || alone_status != 0 || cluster_status != 0)); then
  echo "failed tests (their full output: .data/test-main.out, .data/test-alone.out, .data/test-cluster.out):"
  # A run cut short may have left an output missing: the count and the verdict below still print.
  tap_failures .data/test-main.out .data/test-alone.out .data/test-cluster.out || true
fi
echo "tests: $passed passed, $failed failed"
if ((main_status != 0 || alone_status != 0 || cluster_status != 0)); then
  die "tests failed (main run: exit $main_status, fault suite: exit $alone_status, cluster shape: exit $cluster_status)"
fi
