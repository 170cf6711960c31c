# shellcheck shell=bash
# Shared shell helpers for scripts/bootstrap.sh, scripts/stack.sh and scripts/test.sh.
# Source it (`. "$(dirname "$0")/lib.sh"`); it only defines functions and ARBITER_ROOT and
# changes nothing by itself, so sourcing it twice is harmless.
#
#   say_ok / say_do / say_warn / say_skip MSG   one status line per step, same look everywhere
#   die MSG                                      message on stderr, exit 1
#   resolve_bin NAME                             absolute path of the real executable, not a shim
#   record_tool KEY VALUE                        sets KEY=VALUE in .data/tools.env (for the
#                                                scripts/bootstrap-*.sh steps), other lines kept
#   load_tools_env                               exports TEMPORAL_BIN, TEMPORAL_TEST_SERVER_BIN,
#                                                OPA_BIN from .data/tools.env (bootstrap writes it)
#   docker_server_version                        prints the engine's version if it answers
#   ensure_dockerd                               uses the running engine, else installs/starts one
#                                                with no bridge; never starts a second one
#   ensure_runsc                                 installs gVisor's runsc (apt) and registers it in the
#                                                engine's daemon.json; call it before ensure_dockerd
#   ensure_runsc_registered                      the running engine lists runsc, else SIGHUP reloads
#                                                its config; call it after ensure_dockerd
#   ensure_live_restore                          the running engine keeps containers running across
#                                                its own restart, else "live-restore": true is merged
#                                                into its daemon.json and SIGHUP reloads it (never a
#                                                restart); call it after ensure_dockerd
#   tap_failures FILE...                         each failed test in node's TAP output: its name,
#                                                file and line, and the first lines of its error

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

# One line per key in tools.env: replaced if it says something else, added if missing.
record_tool() { # KEY VALUE (an empty VALUE removes KEY's line)
  touch "$ARBITER_TOOLS_ENV"
  if [[ -z $2 ]]; then
    grep -q "^$1=" "$ARBITER_TOOLS_ENV" || return 0
    local tmp
    tmp=$(mktemp "$ARBITER_TOOLS_ENV.XXXXXX")
    grep -v "^$1=" "$ARBITER_TOOLS_ENV" > "$tmp" || true
    chmod 644 "$tmp"
    mv -f "$tmp" "$ARBITER_TOOLS_ENV"
    say_do "removed $1 from .data/tools.env"
  elif grep -qxF "$1=$2" "$ARBITER_TOOLS_ENV"; then
    say_ok ".data/tools.env has $1"
  else
    local tmp
    tmp=$(mktemp "$ARBITER_TOOLS_ENV.XXXXXX")
    grep -v "^$1=" "$ARBITER_TOOLS_ENV" > "$tmp" || true
    echo "$1=$2" >> "$tmp"
    chmod 644 "$tmp"
    mv -f "$tmp" "$ARBITER_TOOLS_ENV"
    say_do "recorded $1 in .data/tools.env"
  fi
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
docker_cli() {
  local -a host=()
  [[ -n ${DOCKER_SOCKET:-} ]] && host=("DOCKER_HOST=unix://$DOCKER_SOCKET")
  env "${host[@]}" timeout 5 docker "$@" 2>/dev/null
}

docker_server_version() {
  command -v docker >/dev/null 2>&1 || return 1
  docker_cli version --format '{{.Server.Version}}'
}

# The version of module $2 built into the Go binary $1 (empty if none), so that a build of
# another version is never taken for the one wanted.
go_module_version() { go version -m "$1" 2>/dev/null | awk -v m="$2" '$1 == "mod" && $2 == m { print $3 }'; }

# Builds a Go command into a folder of its own, unless a build of the wanted version is there:
# go_install_tool NAME BIN_DIR MODULE PACKAGE VERSION (the binary is BIN_DIR/<last part of PACKAGE>).
go_install_tool() {
  local name=$1 bindir=$2 module=$3 package=$4 version=$5 bin start
  bin="$bindir/${package##*/}"
  if [[ -x $bin && $(go_module_version "$bin" "$module") == "$version" ]]; then
    say_ok "$name $version (already built: $bin)"
    return 0
  fi
  command -v go >/dev/null 2>&1 || die "go not found: $name is built from its Go module"
  say_do "building $name $version: go install $package@$version (several minutes from a cold Go cache)"
  start=$SECONDS
  GOBIN="$bindir" go install "$package@$version"
  say_ok "$name $version (built in $((SECONDS - start))s: $bin)"
}

# Installs one Debian package (root only), refreshing the package lists only when the first try
# fails. $2 names it in the messages (default: the package).
apt_install() {
  [[ $(id -u) -eq 0 ]] || die "${2:-$1} is not installed: run 'sudo apt-get install -y $1', then re-run"
  say_do "installing ${2:-$1} (apt: $1)"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
  fi
}

ensure_dockerd() {
  local version log pidfile=/var/run/docker.pid pid i started=""
  if version=$(docker_server_version) && [[ -n $version ]]; then
    say_ok "docker engine $version (already running)"
    return 0
  fi

  if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    apt_install docker.io "the docker engine"
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
    # live-restore: an engine restart (an upgrade) leaves running scenarios running. Given as a flag
    # unless the daemon config sets it (dockerd refuses to start with a directive in both).
    local -a live=(--live-restore)
    grep -q '"live-restore"' "$(docker_daemon_config)" 2>/dev/null && live=()
    say_do "starting dockerd --bridge=none ${live[*]} (no container networking), log $log"
    # setsid + nohup: the engine must outlive this script and its terminal's Ctrl-C.
    # (a background job of a non-interactive shell is no group leader, so setsid execs in place
    # and $! is dockerd itself)
    setsid nohup dockerd --bridge=none --iptables=false --ip-forward=false "${live[@]}" >>"$log" 2>&1 < /dev/null &
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

# --- gVisor (runsc), the second OCI runtime ------------------------------------------------------
# Debian's runsc, registered with the engine as
#   {"runtimes":{"runsc":{"path":"/usr/bin/runsc","runtimeArgs":["--network=none"]}}}
# (without --network=none it refuses to start a container here). The config is written before the
# bootstrap may start an engine, so a fresh engine reads it; an engine already running without
# runsc re-reads its runtimes on SIGHUP.
RUNSC_PATH=/usr/bin/runsc
RUNSC_NETWORK_ARG=--network=none
DOCKER_PIDFILE=${DOCKER_PIDFILE:-/var/run/docker.pid}

# The daemon config the running engine reads (its --config-file, when the pidfile's dockerd was
# started with one), else DOCKER_DAEMON_JSON, else the engine's default /etc/docker/daemon.json.
docker_daemon_config() {
  local pid arg prev="" file=""
  pid=$(cat "$DOCKER_PIDFILE" 2>/dev/null || true)
  if [[ -n $pid && -r /proc/$pid/cmdline ]]; then
    while IFS= read -r -d '' arg; do
      case $prev/$arg in
        --config-file/*) file=$arg ;;
        */--config-file=*) file=${arg#--config-file=} ;;
      esac
      prev=$arg
    done < "/proc/$pid/cmdline"
  fi
  printf '%s\n' "${file:-${DOCKER_DAEMON_JSON:-/etc/docker/daemon.json}}"
}

# The engine's runtimes as JSON ({"runc":{...},"runsc":{...}}), if it answers.
docker_runtimes() {
  docker_cli info --format '{{json .Runtimes}}'
}

# Exit 0 when the JSON in $1 (an engine's runtimes, or a daemon.json's "runtimes") holds runsc
# with --network=none among its arguments.
runsc_in_runtimes() {
  node -e '
    let r; try { r = JSON.parse(process.argv[1] || "{}"); } catch { process.exit(1); }
    const runsc = r && r.runsc;
    process.exit(runsc && typeof runsc.path === "string" && (runsc.runtimeArgs || []).includes(process.argv[2]) ? 0 : 1);
  ' "$1" "$RUNSC_NETWORK_ARG"
}

runsc_version() {
  "$RUNSC_PATH" --version 2>/dev/null | sed -n 's/^runsc version //p' | head -n 1
}

# Merges runtimes.runsc into the daemon config $1, keeping every other key (and runsc's other
# arguments, and its path when that is an executable); writes a temp file beside it and renames
# it over, so the engine never reads half a file. Prints "unchanged", "created" or "updated".
merge_runsc_config() {
  node -e '
    const fs = require("node:fs"), path = require("node:path");
    const [file, runscPath, netArg] = process.argv.slice(1);
    let text = null, config = {};
    try { text = fs.readFileSync(file, "utf8"); } catch (err) { if (err.code !== "ENOENT") throw err; }
    if (text !== null && text.trim() !== "") {
      try { config = JSON.parse(text); } catch (err) { console.error(`${file} is not valid JSON (${err.message}): fix it by hand`); process.exit(3); }
      if (!config || typeof config !== "object" || Array.isArray(config)) { console.error(`${file} does not hold a JSON object: fix it by hand`); process.exit(3); }
    }
    if (config.runtimes !== undefined && (typeof config.runtimes !== "object" || config.runtimes === null || Array.isArray(config.runtimes))) {
      console.error(`${file}: "runtimes" is not an object: fix it by hand`); process.exit(3);
    }
    const old = config.runtimes && config.runtimes.runsc;
    const usable = (p) => { try { fs.accessSync(p, fs.constants.X_OK); return true; } catch { return false; } };
    const keptPath = old && typeof old.path === "string" && usable(old.path) ? old.path : runscPath;
    const otherArgs = (old && Array.isArray(old.runtimeArgs) ? old.runtimeArgs : []).filter((a) => typeof a === "string" && !a.startsWith("--network"));
    const runsc = { ...(old && typeof old === "object" ? old : {}), path: keptPath, runtimeArgs: [...otherArgs, netArg] };
    if (JSON.stringify(old) === JSON.stringify(runsc)) { console.log("unchanged"); process.exit(0); }
    config.runtimes = { ...(config.runtimes || {}), runsc };
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.arbiter-${process.pid}`);
    let mode = 0o644;
    try { mode = fs.statSync(file).mode & 0o777; } catch {}
    const fd = fs.openSync(tmp, "w", mode);
    try { fs.writeFileSync(fd, JSON.stringify(config, null, 2) + "\n"); fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
    fs.chmodSync(tmp, mode);
    fs.renameSync(tmp, file);
    console.log(text === null ? "created" : "updated");
  ' "$1" "$RUNSC_PATH" "$RUNSC_NETWORK_ARG"
}

ensure_runsc() {
  local config state runtimes
  if [[ -x $RUNSC_PATH ]]; then
    say_ok "runsc $(runsc_version) (gVisor, already installed: $RUNSC_PATH)"
  else
    apt_install runsc "gVisor's runsc"
    [[ -x $RUNSC_PATH ]] || die "runsc installed but $RUNSC_PATH is missing"
    say_ok "runsc $(runsc_version) (installed: $RUNSC_PATH)"
  fi

  config=$(docker_daemon_config)
  # Registered with the running engine some other way (dockerd --add-runtime with the argument):
  # that is whoever started it's to configure, and the file is left as it is.
  if ! grep -q '"runsc"' "$config" 2>/dev/null && runtimes=$(docker_runtimes) && runsc_in_runtimes "$runtimes"; then
    say_ok "runsc runtime (registered with the running engine outside $config: left as is)"
    return 0
  fi
  if [[ $(id -u) -eq 0 ]]; then
    state=$(merge_runsc_config "$config") || die "could not register runsc in $config (see above)"
  elif runsc_in_runtimes "$(node -e 'try { console.log(JSON.stringify(JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8")).runtimes ?? {})); } catch { console.log("{}"); }' "$config")"; then
    state=unchanged
  else
    die "$config does not register runsc and writing it needs root: add {\"runtimes\":{\"runsc\":{\"path\":\"$RUNSC_PATH\",\"runtimeArgs\":[\"$RUNSC_NETWORK_ARG\"]}}} to it as root, then re-run"
  fi
  case $state in
    unchanged) say_ok "runsc runtime in $config ($RUNSC_NETWORK_ARG)" ;;
    *) say_do "$state $config: runtime runsc ($RUNSC_PATH $RUNSC_NETWORK_ARG)" ;;
  esac
}

# After ensure_dockerd: the engine must list runsc before the first scenario asks for it.
ensure_runsc_registered() {
  local runtimes pid deadline config
  runtimes=$(docker_runtimes) || die "docker info did not answer: cannot tell whether the engine has the runsc runtime"
  if runsc_in_runtimes "$runtimes"; then
    say_ok "docker engine lists runtime runsc (gVisor)"
    return 0
  fi
  config=$(docker_daemon_config)
  pid=$(cat "$DOCKER_PIDFILE" 2>/dev/null || true)
  if [[ -z $pid || $(cat "/proc/$pid/comm" 2>/dev/null) != dockerd ]]; then
    die "the engine does not list runtime runsc and $DOCKER_PIDFILE names no running dockerd to reload: restart the engine so it reads $config"
  fi
  [[ $(id -u) -eq 0 ]] || die "the engine does not list runtime runsc; reloading dockerd (pid $pid) needs root: run 'sudo kill -HUP $pid', then re-run"
  say_do "reloading dockerd (pid $pid, SIGHUP) so it reads runtime runsc from $config"
  kill -HUP "$pid"
  deadline=$((SECONDS + 10))
  while ((SECONDS < deadline)); do
    sleep 0.25
    if runtimes=$(docker_runtimes) && runsc_in_runtimes "$runtimes"; then
      say_ok "docker engine lists runtime runsc (gVisor, after a reload)"
      return 0
    fi
  done
  die "dockerd (pid $pid) still does not list runtime runsc 10 s after SIGHUP (it lists: ${runtimes:-nothing}); a config it cannot load is logged by the engine and ignored: check $config and the engine's log${DOCKER_SOCKET:+ (DOCKER_SOCKET=$DOCKER_SOCKET: is that engine the one $DOCKER_PIDFILE names?)}"
}

# --- live-restore ---------------------------------------------------------------------------------
# With live-restore the engine's containers outlive the engine: a dockerd restart (an upgrade, a
# crash) finds them running and takes them back. It is reloadable, so an engine already running
# without it gets it from its daemon.json on SIGHUP, like runsc; the shared engine is never
# restarted for it.

docker_live_restore() {
  docker_cli info --format '{{.LiveRestoreEnabled}}'
}

# Sets "live-restore": true in the daemon config $1, keeping every other key; temp file + rename.
# Prints "unchanged", "created" or "updated".
merge_live_restore_config() {
  node -e '
    const fs = require("node:fs"), path = require("node:path");
    const file = process.argv[1];
    let text = null, config = {};
    try { text = fs.readFileSync(file, "utf8"); } catch (err) { if (err.code !== "ENOENT") throw err; }
    if (text !== null && text.trim() !== "") {
      try { config = JSON.parse(text); } catch (err) { console.error(`${file} is not valid JSON (${err.message}): fix it by hand`); process.exit(3); }
      if (!config || typeof config !== "object" || Array.isArray(config)) { console.error(`${file} does not hold a JSON object: fix it by hand`); process.exit(3); }
    }
    if (config["live-restore"] === true) { console.log("unchanged"); process.exit(0); }
    config["live-restore"] = true;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.arbiter-${process.pid}`);
    let mode = 0o644;
    try { mode = fs.statSync(file).mode & 0o777; } catch {}
    const fd = fs.openSync(tmp, "w", mode);
    try { fs.writeFileSync(fd, JSON.stringify(config, null, 2) + "\n"); fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
    fs.chmodSync(tmp, mode);
    fs.renameSync(tmp, file);
    console.log(text === null ? "created" : "updated");
  ' "$1"
}

ensure_live_restore() {
  local enabled config state pid deadline
  enabled=$(docker_live_restore) || die "docker info did not answer: cannot tell whether the engine has live-restore"
  if [[ $enabled == true ]]; then
    say_ok "docker engine has live-restore (containers outlive an engine restart)"
    return 0
  fi
  config=$(docker_daemon_config)
  pid=$(cat "$DOCKER_PIDFILE" 2>/dev/null || true)
  if [[ -z $pid || $(cat "/proc/$pid/comm" 2>/dev/null) != dockerd ]]; then
    die "the engine runs without live-restore and $DOCKER_PIDFILE names no running dockerd to reload: add \"live-restore\": true to $config and reload or restart it"
  fi
  [[ $(id -u) -eq 0 ]] || die "the engine runs without live-restore; setting it needs root: add \"live-restore\": true to $config, run 'sudo kill -HUP $pid', then re-run"
  state=$(merge_live_restore_config "$config") || die "could not set live-restore in $config (see above)"
  say_do "$state $config: live-restore; reloading dockerd (pid $pid, SIGHUP)"
  kill -HUP "$pid"
  deadline=$((SECONDS + 10))
  while ((SECONDS < deadline)); do
    sleep 0.25
    if [[ $(docker_live_restore) == true ]]; then
      say_ok "docker engine has live-restore (after a reload)"
      return 0
    fi
  done
  die "dockerd (pid $pid) still runs without live-restore 10 s after SIGHUP; a config it cannot load is logged by the engine and ignored: check $config and the engine's log"
}

# CI shows the end of the test command's output: the failed tests are named there, not only
# counted, so that a failure seen once can be read without running the suite again.
tap_failures() {
  awk '
    function flush() { if (name != "" && kind != "subtestsFailed") printf "  ✗ %s (%s)%s\n", name, loc, err; name = "" }
    /^ *not ok [0-9]+ - / { flush(); name = $0; sub(/^ *not ok [0-9]+ - /, "", name); loc = "?"; err = ""; kind = ""; inerr = 0; next }
    name == "" { next }
    /^ *\.\.\.$/ { flush(); next }
    /^ *location: / { loc = $0; sub(/^ *location: /, "", loc); gsub(/\x27/, "", loc); sub(/^.*\/(test\/)/, "test/", loc); inerr = 0; next }
    /^ *failureType: / { kind = $0; sub(/^ *failureType: /, "", kind); gsub(/\x27/, "", kind); inerr = 0; next }
    /^ *error: / { line = $0; sub(/^ *error: /, "", line); if (line != "|-") err = err "\n      " line; inerr = (line == "|-") ? 1 : 0; indent = match($0, /[^ ]/); shown = 0; next }
    inerr && /[^ ]/ && match($0, /[^ ]/) <= indent { inerr = 0 }
    inerr { line = $0; sub(/^ +/, "", line); if (line != "" && shown < 6) { err = err "\n      " line; shown++ } }
    END { flush() }
  ' "$@"
}
