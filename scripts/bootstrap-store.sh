#!/usr/bin/env bash
# The S3-compatible artifact store for ARBITER_ARTIFACT_STORE=s3 (scripts/store.sh, the cluster
# shape): Versity Gateway (versitygw, Apache-2.0), an S3 server over a POSIX folder, built from its
# Go module into ~/.cache/arbiter/versitygw-<version>/bin (shared by every checkout), its path in
# .data/tools.env as VERSITYGW_BIN; dev S3 credentials generated into .data/dev.env.
# Idempotent; a second run only checks the binary's embedded version. Called by scripts/bootstrap.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

VERSITYGW_VERSION=1.8.0
VERSITYGW_MODULE=github.com/versity/versitygw

# Outside the repository: every checkout (and worktree) shares one build.
STORE_TOOLS=${ARBITER_STORE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/arbiter/versitygw-$VERSITYGW_VERSION}
mkdir -p "$STORE_TOOLS" .data

# Checked by the binary's embedded module version: a build of another version is never taken for this one.
go_install_tool versitygw "$STORE_TOOLS/bin" "$VERSITYGW_MODULE" "$VERSITYGW_MODULE/cmd/versitygw" "v$VERSITYGW_VERSION"
record_tool VERSITYGW_BIN "$STORE_TOOLS/bin/versitygw"

# The dev store's root account: scripts/store.sh, scripts/cluster.sh and the processes they serve
# read it from .data/dev.env (never from the repository).
(
  umask 077
  touch .data/dev.env
  added=()
  if ! grep -q '^ARBITER_S3_ACCESS_KEY_ID=' .data/dev.env; then
    echo "ARBITER_S3_ACCESS_KEY_ID=arbiter-$(node -e 'console.log(require("node:crypto").randomBytes(8).toString("hex"))')" >> .data/dev.env
    added+=(ARBITER_S3_ACCESS_KEY_ID)
  fi
  if ! grep -q '^ARBITER_S3_SECRET_ACCESS_KEY=' .data/dev.env; then
    echo "ARBITER_S3_SECRET_ACCESS_KEY=$(node -e 'console.log(require("node:crypto").randomBytes(30).toString("base64url"))')" >> .data/dev.env
    added+=(ARBITER_S3_SECRET_ACCESS_KEY)
  fi
  if (( ${#added[@]} )); then say_do ".data/dev.env: added ${added[*]} (dev S3 credentials)"; else say_ok ".data/dev.env has the dev S3 credentials"; fi
)
