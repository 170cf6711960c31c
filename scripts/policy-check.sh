#!/usr/bin/env bash
# Lint and test the Rego policies: formatting, strict compile checks, unit tests
# and a coverage floor. Exits non-zero on the first failure.
#
# This checks the rules as OPA's Go evaluator runs them. The shipped artefact is
# the Wasm build, whose builtins partly differ (sprintf, json.marshal escaping, no
# regex.replace), so test/unit/policy.test.ts also runs against scripts/build-policy.sh
# output, and test/e2e/policy-server.e2e.test.ts requires the Wasm build and an OPA
# server to decide a table of inputs identically.
set -euo pipefail

cd "$(dirname "$0")/.."

MIN_COVERAGE="${POLICY_MIN_COVERAGE:-90}"

if command -v opa >/dev/null 2>&1; then
  OPA="$(command -v opa)"
elif [[ -x "${GOPATH:-$HOME/go}/bin/opa" ]]; then
  OPA="${GOPATH:-$HOME/go}/bin/opa"
else
  echo "policy-check: opa not found on PATH or in ${GOPATH:-$HOME/go}/bin" >&2
  exit 1
fi

echo "== opa fmt"
# --diff shows what would change; --fail turns "would change" into an exit code.
if ! "$OPA" fmt --diff --fail policies/; then
  echo "policy-check: policies are not formatted; run: opa fmt -w policies/" >&2
  exit 1
fi

echo "== opa check --strict"
"$OPA" check --strict policies/

echo "== opa test"
# A test's time limit is OPA's 5 s by default: the isolation table's largest case took longer than
# that on a loaded 2-core machine (CI). A slow policy is measured in bench/, not failed here.
"$OPA" test policies/ --fail-on-empty -v --timeout 120s

echo "== coverage"
report="$(mktemp)"
trap 'rm -f "$report"' EXIT
"$OPA" test policies/ --coverage --format=json --timeout 120s > "$report"
node -e '
const fs = require("node:fs");
const [file, min] = process.argv.slice(1);
const report = JSON.parse(fs.readFileSync(file, "utf8"));
const cov = Number(report.coverage);
if (!Number.isFinite(cov)) { console.error("policy-check: no coverage figure in opa output"); process.exit(1); }
// The overall figure counts the _test.rego files too, which are nearly always fully
// covered; each policy file must also clear the floor on its own.
let ok = cov >= Number(min);
for (const [name, f] of Object.entries(report.files ?? {})) {
  if (name.endsWith("_test.rego")) continue;
  const fileCov = Number(f.coverage ?? 0);
  const missed = (f.not_covered ?? []).map((r) => `${r.start.row}-${r.end.row}`).join(", ");
  console.log(`  ${name}: ${fileCov}%${missed ? ` (not covered: lines ${missed})` : ""}`);
  if (fileCov < Number(min)) ok = false;
}
console.log(`policy coverage: ${cov.toFixed(1)}% (minimum ${min}%)`);
if (!ok) { console.error(`policy-check: coverage is below ${min}%`); process.exit(1); }
' "$report" "$MIN_COVERAGE"
