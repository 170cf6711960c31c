#!/usr/bin/env bash
# Validates deploy/docker-compose.yml without pulling an image or starting anything:
#  - `docker compose config` (or docker-compose v1's) accepts it, with and without the
#    remote-policy profile, given placeholder secrets;
#  - it refuses to render when a required secret is unset (the file must never default one);
#  - every build target it names is a stage of deploy/Dockerfile.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
else
  die "neither 'docker compose' nor 'docker-compose' found: run scripts/bootstrap.sh"
fi
file=deploy/docker-compose.yml
required=(ET_HMAC_SECRET SAT_HMAC_SECRET OPERATOR_HMAC_SECRET COMPLETION_HMAC_SECRET TEMPORAL_DB_PASSWORD)
placeholders=()
for name in "${required[@]}"; do placeholders+=("$name=placeholder"); done

# Variables from the caller's environment must not decide the outcome.
run_config() { env -i PATH="$PATH" HOME="${HOME:-/root}" "$@" "${compose[@]}" -f "$file" "${profile[@]}" config -q; }

profile=()
run_config "${placeholders[@]}" || die "$file: compose config failed"
profile=(--profile remote-policy)
run_config "${placeholders[@]}" || die "$file: compose config failed with the remote-policy profile"
profile=()
for name in "${required[@]}"; do
  others=()
  for p in "${placeholders[@]}"; do [[ $p == "$name="* ]] || others+=("$p"); done
  if run_config "${others[@]}" 2>/dev/null; then die "$file renders without $name: a required secret must not have a default"; fi
done

stages=$(sed -n 's/^FROM .* AS \([a-z0-9-]*\)$/\1/p' deploy/Dockerfile)
for target in $(sed -n 's/^ *target: *\([a-z0-9-]*\)$/\1/p' "$file" | sort -u); do
  grep -qx "$target" <<<"$stages" || die "$file builds target '$target', which deploy/Dockerfile does not define"
done
say_ok "compose file: $file is valid (${compose[*]} config), refuses unset secrets, and its build targets exist"
