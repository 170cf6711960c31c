# shellcheck shell=bash
# Shared shell helpers for scripts/bootstrap.sh, scripts/stack.sh and scripts/test.sh.
# Source it (`. "$(dirname "$0")/lib.sh"`); it only defines functions and ARBITER_ROOT and
# changes nothing by itself, so sourcing it twice is harmless.
#
#   say_ok / say_do / say_warn / say_skip MSG   one status line per step, same look everywhere
#   die MSG                                      message on stderr, exit 1
#   resolve_bin NAME                             absolute path of the real executable, not a shim
#   load_tools_env                               exports TEMPORAL_BIN, TEMPORAL_TEST_SERVER_BIN,
#                                                OPA_BIN from .data/tools.env (bootstrap writes it)
#   docker_server_version                        prints the engine's version if it answers
#   ensure_dockerd                               uses the running engine, else installs/starts one
#                                                with no bridge; never starts a second one

ARBITER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ARBITER_DATA_DIR="$ARBITER_ROOT/.data"
ARBITER_TOOLS_ENV="$ARBITER_DATA_DIR/tools.env"

say_ok()   { printf '✓ %s\n' "$*"; }
say_do()   { printf '→ %s\n' "$*"; }
say_warn() { printf '⚠ %s\n' "$*"; }
say_skip() { printf '· %s\n' "$*"; }
die()      { printf '✗ %s\n' "$*" >&2; exit 1; }

# pip installs console scripts next to the interpreter; with pyenv, PATH only holds shims that
# re-dispatch through pyenv on every call (slow, and they depend on the pyenv version selected
# in the caller's directory), so tests must get the real file.
python_scripts_dir() {
  python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true
}

resolve_bin() {
  local name=$1 found scripts
  found=$(command -v "$name" 2>/dev/null || true)
  if [[ -n $found && $found != */shims/* ]]; then
    printf '%s\n' "$found"; return 0
  fi
  scripts=$(python_scripts_dir)
  if [[ -n $scripts && -x $scripts/$name ]]; then
    printf '%s\n' "$scripts/$name"; return 0
  fi
  if [[ -n $found ]] && command -v pyenv >/dev/null 2>&1; then
    found=$(pyenv which "$name" 2>/dev/null || true)
    [[ -n $found ]] && { printf '%s\n' "$found"; return 0; }
  fi
  return 1
}

load_tools_env() {
  [[ -f $ARBITER_TOOLS_ENV ]] || return 1
  local key value
  while IFS='=' read -r key value; do
    [[ $key =~ ^[A-Z_][A-Z0-9_]*$ ]] || continue
    export "$key=$value"
  done < "$ARBITER_TOOLS_ENV"
}

# The CLI talks to the socket dockerode uses (DOCKER_SOCKET), not whatever context is configured;
# bounded, because a half-started daemon can leave the client waiting on the socket.
docker_server_version() {
  command -v docker >/dev/null 2>&1 || return 1
  local -a host=()
  [[ -n ${DOCKER_SOCKET:-} ]] && host=("DOCKER_HOST=unix://$DOCKER_SOCKET")
  env "${host[@]}" timeout 5 docker version --format '{{.Server.Version}}' 2>/dev/null
}

ensure_dockerd() {
  local version log pidfile=/var/run/docker.pid pid i started=""
  if version=$(docker_server_version) && [[ -n $version ]]; then
    say_ok "docker engine $version (already running)"
    return 0
  fi

  if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    [[ $(id -u) -eq 0 ]] || die "docker engine not installed: run 'sudo apt-get install -y docker.io', then re-run"
    say_do "installing docker.io (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
    # the package's service scripts may already have started an engine
    if version=$(docker_server_version) && [[ -n $version ]]; then
      say_ok "docker engine $version (started by the package)"
      return 0
    fi
  fi

  mkdir -p "$ARBITER_DATA_DIR"
  log="$ARBITER_DATA_DIR/dockerd.log"
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    # A dockerd holds the pidfile but does not answer yet (still starting, or its socket is
    # elsewhere): a second one would only fail on the pidfile, so wait for this one.
    say_do "dockerd (pid $pid) is running but not answering yet; waiting"
  else
    [[ $(id -u) -eq 0 ]] || die "docker engine not running and starting dockerd needs root: run 'sudo dockerd --bridge=none --iptables=false --ip-forward=false &'"
    say_do "starting dockerd --bridge=none (no container networking), log $log"
    # setsid + nohup: the engine must outlive this script and its terminal's Ctrl-C.
    # (a background job of a non-interactive shell is no group leader, so setsid execs in place
    # and $! is dockerd itself)
    setsid nohup dockerd --bridge=none --iptables=false --ip-forward=false >>"$log" 2>&1 < /dev/null &
    pid=$!
    started=1
  fi

  for ((i = 0; i < 120; i++)); do
    if version=$(docker_server_version) && [[ -n $version ]]; then
      if [[ -n $started ]]; then say_ok "docker engine $version (started)"; else say_ok "docker engine $version (up)"; fi
      return 0
    fi
    # a daemon that already exited will not answer: fail now rather than after the full minute
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if [[ -n $started ]]; then
    printf '✗ dockerd (pid %s) did not come up; last lines of %s:\n' "$pid" "$log" >&2
    tail -n 30 "$log" >&2 2>/dev/null || true
  else
    printf '✗ dockerd (pid %s, not started by us) did not answer within 60s: see its own log\n' "$pid" >&2
  fi
  exit 1
}
