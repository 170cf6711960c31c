#!/usr/bin/env bash
# Compiles policies/ into the Wasm bundle the spawn gate evaluates, and unpacks
# policy.wasm + data.json next to it for infra/policy/wasm-engine.ts. Also builds
# server-bundle.tar.gz, the same policies as a Rego bundle for an OPA server (remote
# mode, OPA_URL): its revision is set to the Wasm bundle's sha256, so a server loaded
# with it reports, with every decision, the same hash the in-process engine would,
# and ARBITER_POLICY_SHA256 pins both modes alike.
#
#   scripts/build-policy.sh          rebuild only if an input changed
#   scripts/build-policy.sh --force  rebuild unconditionally
#
# The printed sha256 is the one infra/policy/wasm-engine.ts reports as policySha256:
# sha256 over policy.wasm followed by data.json, i.e.
#   cat .data/policy/policy.wasm .data/policy/data.json | sha256sum
set -euo pipefail

cd "$(dirname "$0")/.."

ENTRYPOINT="arbiter/spawn/decision"
OUT=".data/policy"
STAMP="$OUT/policy.sha256"

force=0
case "${1:-}" in
  --force) force=1 ;;
  "") ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

find_opa() {
  if command -v opa >/dev/null 2>&1; then
    command -v opa
  elif [[ -x "${GOPATH:-$HOME/go}/bin/opa" ]]; then
    echo "${GOPATH:-$HOME/go}/bin/opa"
  else
    echo "build-policy: opa not found on PATH or in ${GOPATH:-$HOME/go}/bin" >&2
    return 1
  fi
}

# The stamp is written last, so its presence means the previous build completed.
# Directories are included in the comparison because adding or deleting a policy
# file changes its directory's mtime but no remaining file's.
up_to_date() {
  [[ -f "$STAMP" && -f "$OUT/policy.wasm" && -f "$OUT/data.json" && -f "$OUT/bundle.tar.gz" && -f "$OUT/server-bundle.tar.gz" ]] || return 1
  [[ -z "$(find policies scripts/build-policy.sh -newer "$STAMP" -print -quit)" ]]
}

if [[ $force -eq 0 ]] && up_to_date; then
  echo "policy up to date: $OUT/policy.wasm (entrypoint $ENTRYPOINT) sha256=$(cat "$STAMP")"
  exit 0
fi

OPA="$(find_opa)"
mkdir -p "$OUT"
# Build in a scratch dir and move into place so a concurrent reader never sees a
# half-written wasm next to the previous data.json.
tmp="$(mktemp -d "$OUT/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

"$OPA" build -t wasm -e "$ENTRYPOINT" --ignore '*_test.rego' -o "$tmp/bundle.tar.gz" policies/
# Bundle members are stored as /policy.wasm etc. with a 1970 mtime and mode 0600;
# -m gives them the current time and chmod makes them readable by other users.
tar -xzf "$tmp/bundle.tar.gz" -m -C "$tmp" /policy.wasm /data.json 2>/dev/null \
  || tar -xzf "$tmp/bundle.tar.gz" -m -C "$tmp" policy.wasm data.json
chmod 0644 "$tmp/bundle.tar.gz" "$tmp/policy.wasm" "$tmp/data.json"

sha="$(cat "$tmp/policy.wasm" "$tmp/data.json" | sha256sum | cut -d' ' -f1)"
echo "$sha" > "$tmp/policy.sha256"

# Run from the repository root with a relative path, so the bundle names its files
# policies/... rather than this machine's absolute paths.
"$OPA" build -b --ignore '*_test.rego' --revision "$sha" -o "$tmp/server-bundle.tar.gz" policies/
chmod 0644 "$tmp/server-bundle.tar.gz"

mv -f "$tmp/bundle.tar.gz" "$tmp/server-bundle.tar.gz" "$tmp/policy.wasm" "$tmp/data.json" "$OUT/"
mv -f "$tmp/policy.sha256" "$STAMP"

echo "built $OUT/policy.wasm + data.json and $OUT/server-bundle.tar.gz (entrypoint $ENTRYPOINT, opa $("$OPA" version | sed -n 's/^Version: //p')) sha256=$sha"
