#!/usr/bin/env bash
# Schemathesis, the OpenAPI conformance checker the test command runs against the served document
# (test/e2e/openapi-conformance.e2e.test.ts). A venv of its own, like inspect-ai's: it pins
# hypothesis, jsonschema and friends that must not meet the system python's. Idempotent; records
# SCHEMATHESIS_BIN in .data/tools.env (bootstrap.sh rewrites that file first, so this runs after).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

SCHEMATHESIS_VERSION=4.32.5
venv=.data/schemathesis-venv
python="$PWD/$venv/bin/python"
bin="$PWD/$venv/bin/schemathesis"

command -v python3 >/dev/null 2>&1 || die "python3 not found: needed for the schemathesis venv"
mkdir -p .data

installed_version() {
  "$python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true
}

if [[ -x $bin && $(installed_version) == "$SCHEMATHESIS_VERSION" ]]; then
  say_ok "schemathesis $SCHEMATHESIS_VERSION ($venv)"
else
  [[ -x $python ]] || python3 -m venv "$venv"
  say_do "installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  "$python" -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  got=$(installed_version)
  [[ $got == "$SCHEMATHESIS_VERSION" ]] || die "$venv has schemathesis '${got:-?}', expected $SCHEMATHESIS_VERSION"
  [[ -x $bin ]] || die "schemathesis $got installed but $bin is missing"
  say_ok "schemathesis $SCHEMATHESIS_VERSION (installed: $venv)"
fi

record_tool SCHEMATHESIS_BIN "$bin"
