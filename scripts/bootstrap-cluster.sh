#!/usr/bin/env bash
# What the cluster shape (scripts/cluster.sh, `npm run stack -- --cluster`) needs beyond the dev
# stack: the Temporal server and its SQL schema tool built from one module version, that
# version's PostgreSQL schema files (from the Go module cache), PostgreSQL itself (Debian's), and
# the Temporal UI server when its Go module builds. Paths go to .data/tools.env:
#   TEMPORAL_SERVER_BIN, TEMPORAL_SQL_TOOL_BIN, TEMPORAL_SCHEMA_DIR, PG_BIN_DIR, TEMPORAL_UI_SERVER_BIN
# Idempotent; a second run only checks versions. Called by scripts/bootstrap.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

TEMPORAL_SERVER_VERSION=1.32.0   # v1.32.1+ need Go >= 1.26.10
# v2.56+ need Go >= 1.26.10, and v2.58's echo v4.16.1 is refused by the module proxy: v2.55.0 is the
# newest UI server that builds here (it serves the v1.32 frontend's API).
TEMPORAL_UI_SERVER_VERSION=2.55.0
PG_MAJOR=15

# Outside the repository: every checkout (and worktree) shares one build.
CLUSTER_TOOLS=${ARBITER_CLUSTER_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/arbiter/temporal-$TEMPORAL_SERVER_VERSION}
mkdir -p "$CLUSTER_TOOLS" .data

command -v go >/dev/null 2>&1 || die "go not found: the Temporal server for the cluster shape is built from its Go module (Go >= 1.26)"

# --- Temporal server and SQL tool ---------------------------------------------------------------
server_bin="$CLUSTER_TOOLS/bin/server"
sql_bin="$CLUSTER_TOOLS/bin/sql"
go_install_tool "Temporal server" "$CLUSTER_TOOLS/bin" go.temporal.io/server go.temporal.io/server/cmd/server "v$TEMPORAL_SERVER_VERSION"
go_install_tool "Temporal SQL schema tool" "$CLUSTER_TOOLS/bin" go.temporal.io/server go.temporal.io/server/cmd/tools/sql "v$TEMPORAL_SERVER_VERSION"
record_tool TEMPORAL_SERVER_BIN "$server_bin"
record_tool TEMPORAL_SQL_TOOL_BIN "$sql_bin"

# --- schema files of the same version -----------------------------------------------------------
# go install fetched the module: its schema/ folder is the one this server expects.
schema_dir="$(go env GOMODCACHE)/go.temporal.io/server@v$TEMPORAL_SERVER_VERSION/schema/postgresql/v12"
if [[ ! -d $schema_dir/temporal/versioned || ! -d $schema_dir/visibility/versioned ]]; then
  say_do "fetching the module's schema files (go mod download go.temporal.io/server@v$TEMPORAL_SERVER_VERSION)"
  (cd "$CLUSTER_TOOLS" && go mod download "go.temporal.io/server@v$TEMPORAL_SERVER_VERSION")
fi
[[ -d $schema_dir/temporal/versioned && -d $schema_dir/visibility/versioned ]] || die "no PostgreSQL schema files in $schema_dir"
say_ok "Temporal PostgreSQL schema files v12 ($schema_dir: temporal $(ls "$schema_dir/temporal/versioned" | sort -V | tail -n 1), visibility $(ls "$schema_dir/visibility/versioned" | sort -V | tail -n 1))"
record_tool TEMPORAL_SCHEMA_DIR "$schema_dir"

# --- PostgreSQL ---------------------------------------------------------------------------------
pg_bin="/usr/lib/postgresql/$PG_MAJOR/bin"
if [[ -x $pg_bin/initdb && -x $pg_bin/pg_ctl && -x $pg_bin/psql ]]; then
  say_ok "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') (already installed: $pg_bin)"
else
  apt_install "postgresql-$PG_MAJOR" "PostgreSQL $PG_MAJOR"
  [[ -x $pg_bin/initdb ]] || die "postgresql-$PG_MAJOR installed but $pg_bin/initdb is missing"
  # The package starts a cluster of its own on 5432; Arbiter's runs on its own port and data dir
  # (scripts/cluster.sh), so the package's is left as the package set it up.
  say_ok "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') (installed: $pg_bin)"
fi
record_tool PG_BIN_DIR "$pg_bin"

# --- Temporal UI server (optional) --------------------------------------------------------------
# One attempt per UI version (a marker records a failed one), so a module that does not build
# costs nothing on later runs.
ui_dir="$CLUSTER_TOOLS/ui-$TEMPORAL_UI_SERVER_VERSION"
ui_bin="$ui_dir/bin/server"
if [[ -x $ui_bin ]]; then
  say_ok "Temporal UI server $TEMPORAL_UI_SERVER_VERSION (already built: $ui_bin)"
  record_tool TEMPORAL_UI_SERVER_BIN "$ui_bin"
elif [[ -f $ui_dir/failed ]]; then
  say_skip "Temporal UI server $TEMPORAL_UI_SERVER_VERSION: did not build here earlier ($ui_dir/failed); the cluster runs without a UI"
  record_tool TEMPORAL_UI_SERVER_BIN ""
else
  mkdir -p "$ui_dir"
  say_do "building the Temporal UI server: go install github.com/temporalio/ui-server/v2/cmd/server@v$TEMPORAL_UI_SERVER_VERSION"
  if GOBIN="$ui_dir/bin" go install "github.com/temporalio/ui-server/v2/cmd/server@v$TEMPORAL_UI_SERVER_VERSION" >"$ui_dir/build.log" 2>&1; then
    say_ok "Temporal UI server $TEMPORAL_UI_SERVER_VERSION (built: $ui_bin)"
    record_tool TEMPORAL_UI_SERVER_BIN "$ui_bin"
  else
    cp "$ui_dir/build.log" "$ui_dir/failed"
    say_skip "Temporal UI server $TEMPORAL_UI_SERVER_VERSION did not build ($ui_dir/failed): the cluster runs without a UI"
    record_tool TEMPORAL_UI_SERVER_BIN ""
  fi
fi
