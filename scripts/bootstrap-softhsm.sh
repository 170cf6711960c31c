#!/usr/bin/env bash
# SoftHSM2, the PKCS#11 token the verdict signer is developed and tested against
# (ARBITER_SIGNER=pkcs11, infra/pkcs11-keys.ts): Debian's softhsm2, a configuration of this
# checkout's own under .data/softhsm (its tokens there, not in /var/lib/softhsm), and a dev token
# "arbiter-dev" initialised once. Its PINs are generated into .data/dev.env (ARBITER_PKCS11_PIN,
# SOFTHSM2_SO_PIN), never into the repository; SOFTHSM2_CONF and SOFTHSM2_MODULE go to
# .data/tools.env (bootstrap.sh rewrites that file first, so this runs after). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

TOKEN_LABEL=arbiter-dev
module=/usr/lib/softhsm/libsofthsm2.so
dir="$PWD/.data/softhsm"
conf="$dir/softhsm2.conf"

# --- the package ----------------------------------------------------------------------------------
if command -v softhsm2-util >/dev/null 2>&1 && [[ -e $module ]]; then
  say_ok "softhsm2 ($(softhsm2-util --version), $module)"
else
  apt_install softhsm2
  [[ -e $module ]] || die "softhsm2 installed but $module is missing"
  say_ok "softhsm2 (installed $(softhsm2-util --version))"
fi

# --- the configuration ------------------------------------------------------------------------------
mkdir -p "$dir/tokens"
chmod 700 "$dir" "$dir/tokens"
wanted_conf="# written by scripts/bootstrap-softhsm.sh: this checkout's dev tokens
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false"
if [[ -f $conf && $(cat "$conf") == "$wanted_conf" ]]; then
  say_ok "SoftHSM2 configuration ($conf)"
else
  printf '%s\n' "$wanted_conf" > "$conf"
  say_do "wrote the SoftHSM2 configuration ($conf)"
fi
export SOFTHSM2_CONF=$conf

record_tool SOFTHSM2_CONF "$conf"
record_tool SOFTHSM2_MODULE "$module"

# --- the dev token's PINs (generated once, kept in .data/dev.env) ----------------------------------
dev_env=.data/dev.env
(umask 077; touch "$dev_env")
chmod 600 "$dev_env"
env_value() { sed -n "s/^$1=//p" "$dev_env" | tail -n 1; }
so_pin=$(env_value SOFTHSM2_SO_PIN)
user_pin=$(env_value ARBITER_PKCS11_PIN)
token_present() {
  softhsm2-util --show-slots 2>/dev/null | grep -qE "^[[:space:]]*Label:[[:space:]]+$TOKEN_LABEL[[:space:]]*$"
}

if token_present; then
  [[ -n $user_pin ]] || die "token \"$TOKEN_LABEL\" exists in $dir/tokens but $dev_env has no ARBITER_PKCS11_PIN: to start over, SOFTHSM2_CONF=$conf softhsm2-util --delete-token --token $TOKEN_LABEL"
  say_ok "SoftHSM2 dev token \"$TOKEN_LABEL\" (PINs in $dev_env)"
else
  if [[ -z $so_pin || -z $user_pin ]]; then
    so_pin=$(node -p 'require("node:crypto").randomBytes(16).toString("hex")')
    user_pin=$(node -p 'require("node:crypto").randomBytes(16).toString("hex")')
    {
      echo "# dev PINs of the SoftHSM2 token \"$TOKEN_LABEL\" (scripts/bootstrap-softhsm.sh)"
      echo "SOFTHSM2_SO_PIN=$so_pin"
      echo "ARBITER_PKCS11_PIN=$user_pin"
    } >> "$dev_env"
  fi
  softhsm2-util --init-token --free --label "$TOKEN_LABEL" --so-pin "$so_pin" --pin "$user_pin" >/dev/null
  token_present || die "softhsm2-util initialised token \"$TOKEN_LABEL\" but does not list it"
  say_do "initialised SoftHSM2 dev token \"$TOKEN_LABEL\" (PINs generated into $dev_env)"
fi
