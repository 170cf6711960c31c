#!/usr/bin/env bash
# Fails when a tracked file looks like it holds a secret: private keys, generated env files, or
# an assignment of a long random-looking value to a *_SECRET variable.
set -euo pipefail
cd "$(dirname "$0")/.."
found=0
while IFS= read -r -d '' f; do
  case $f in .data/*|storage/*|*.env) echo "✗ tracked file that must never be committed: $f"; found=1; continue ;; esac
  if grep -nE -- '-----BEGIN ([A-Z]+ )?PRIVATE KEY-----|"d": *"[A-Za-z0-9_-]{40,}"|_SECRET=[A-Za-z0-9+/_-]{24,}' "$f" >/dev/null 2>&1; then
    echo "✗ possible secret in $f:"; grep -nE -- '-----BEGIN ([A-Z]+ )?PRIVATE KEY-----|"d": *"[A-Za-z0-9_-]{40,}"|_SECRET=[A-Za-z0-9+/_-]{24,}' "$f" | cut -c1-120
    found=1
  fi
done < <(git ls-files -z -- . ':!:scripts/secret-scan.sh')
if ((found)); then exit 1; fi
echo "✓ secret scan: no secrets in tracked files"
