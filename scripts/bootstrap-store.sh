#!/usr/bin/env bash
# SeaweedFS, the S3-compatible artifact store of the cluster shape (ARBITER_ARTIFACT_STORE=s3):
# built from its Go module (the module proxy serves one version; `go install` refuses it because
# its go.mod has replace directives, so it is built inside the downloaded module), its path in
# .data/tools.env as WEED_BIN, and dev S3 credentials in .data/dev.env. Idempotent; fast when done.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

SEAWEEDFS_MODULE=github.com/seaweedfs/seaweedfs
SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6

command -v go >/dev/null 2>&1 || die "go is missing: SeaweedFS is built from its Go module (install Go 1.26)"
weed_bin="$(go env GOPATH)/bin/weed"
stamp="$weed_bin.version"
if [[ -x $weed_bin && -f $stamp && $(cat "$stamp") == "$SEAWEEDFS_VERSION" ]]; then
  say_ok "SeaweedFS $SEAWEEDFS_VERSION ($weed_bin)"
else
  say_do "building SeaweedFS $SEAWEEDFS_VERSION (a large Go build: several minutes the first time)"
  src=$(go mod download -json "$SEAWEEDFS_MODULE@$SEAWEEDFS_VERSION" | node -e 'let s="";process.stdin.on("data",(d)=>s+=d).on("end",()=>{const j=JSON.parse(s);if(j.Error){console.error(j.Error);process.exit(1)}console.log(j.Dir)})')
  mkdir -p "$(dirname "$weed_bin")"
  (cd "$src" && go build -trimpath -o "$weed_bin.tmp" ./weed)
  mv -f "$weed_bin.tmp" "$weed_bin"
  echo "$SEAWEEDFS_VERSION" > "$stamp"
  say_ok "SeaweedFS $SEAWEEDFS_VERSION (built: $weed_bin)"
fi

# bootstrap.sh rewrites tools.env from scratch, then runs this script: the line is added back.
if grep -qx "WEED_BIN=$weed_bin" .data/tools.env 2>/dev/null; then
  say_ok ".data/tools.env has WEED_BIN"
else
  sed -i '/^WEED_BIN=/d' .data/tools.env 2>/dev/null || true
  echo "WEED_BIN=$weed_bin" >> .data/tools.env
  say_do ".data/tools.env: WEED_BIN=$weed_bin"
fi

# The dev store's one identity (scripts/store.sh writes SeaweedFS's S3 config from these).
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
