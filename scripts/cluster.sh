#!/usr/bin/env bash
# The production shape on one machine, in the background, state under .data/cluster/:
#   - PostgreSQL of its own (Debian's binaries, initdb as the `postgres` user, 127.0.0.1 only)
#   - the Temporal server (go.temporal.io/server v1.32.0) on it: persistence AND advanced
#     visibility on postgres12, schema set up with Temporal's own SQL tool, namespace "default"
#     and Arbiter's search attributes (contract/queues.ts) registered
#   - two Docker engines of their own (host-a, host-b: own socket, data root and exec root, no
#     bridge, live-restore) with the template images built into each
#   - the shared artifact store: versitygw serving S3 on 127.0.0.1 (scripts/store.sh), its objects
#     under .data/cluster/store/root, bucket "arbiter"; every process of the shape reads and writes
#     artifacts there (ARBITER_ARTIFACT_STORE=s3, credentials from .data/dev.env)
#
#   bash scripts/cluster.sh up                   starts what is not running, waits until each part answers
#   bash scripts/cluster.sh down [--remove-containers]
#                                                stops all of it (engines run with live-restore: their
#                                                containers outlive them unless asked to go)
#   bash scripts/cluster.sh status               one line per part
#   bash scripts/cluster.sh restart postgres|temporal
#                                                stops that part and starts it again (the fault suite's lever)
#   bash scripts/cluster.sh reset                down --remove-containers, then deletes the database
#
# What the other processes need is written to .data/cluster/cluster.env (TEMPORAL_ADDRESS,
# the engines' sockets, the store's ARBITER_ARTIFACT_STORE/ARBITER_S3_*); scripts/stack.sh
# --cluster, the e2e fixture and the bench read it.
# Binaries and schema files come from .data/tools.env (scripts/bootstrap-cluster.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

STATE="$ARBITER_DATA_DIR/cluster"
PG_PORT=${ARBITER_CLUSTER_PG_PORT:-54329}
# The frontend's gRPC port; the other services sit next to it (see temporal_config).
T_PORT=${ARBITER_CLUSTER_TEMPORAL_PORT:-7433}
T_ADDRESS="127.0.0.1:$T_PORT"
UI_PORT=${ARBITER_CLUSTER_UI_PORT:-8433}
STORE_PORT=${ARBITER_CLUSTER_STORE_PORT:-7470}
STORE_BUCKET=arbiter
HOSTS=(host-a host-b)
PGDATA="$STATE/pg"
PG_RUN="$STATE/pg-run"
NAMESPACE=default

load_tools_env || die ".data/tools.env missing: run scripts/bootstrap.sh"
need_tools() {
  local v
  for v in TEMPORAL_SERVER_BIN TEMPORAL_SQL_TOOL_BIN TEMPORAL_SCHEMA_DIR PG_BIN_DIR TEMPORAL_BIN VERSITYGW_BIN; do
    [[ -n ${!v:-} ]] || die "$v missing from .data/tools.env: run scripts/bootstrap.sh (scripts/bootstrap-cluster.sh builds the Temporal server)"
  done
}

# PostgreSQL refuses to run as root: as root its commands run as `postgres`, else as the caller.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
pg_owner() { if [[ $(id -u) -eq 0 ]]; then echo postgres; else id -un; fi; }

pid_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }
pid_of() { cat "$1" 2>/dev/null | head -n 1 || true; }

# Waits on a condition (a command that succeeds), not a fixed time; fails early if the process died.
wait_until() { # what, seconds, pid (or ""), command...
  local what=$1 secs=$2 pid=$3; shift 3
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [[ -n $pid ]] && ! pid_alive "$pid"; then return 1; fi
    ((SECONDS < deadline)) || { printf '✗ %s did not answer within %ss\n' "$what" "$secs" >&2; return 1; }
    sleep 0.25
  done
}

# ---- PostgreSQL ----------------------------------------------------------------------------------

pg_password() { cat "$STATE/pg-password"; }

pg_running() { as_pg "$PG_BIN_DIR/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; }

psql_admin() { as_pg "$PG_BIN_DIR/psql" -h "$PG_RUN" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

pg_start() {
  if pg_running; then say_ok "PostgreSQL (running, 127.0.0.1:$PG_PORT)"; return 0; fi
  mkdir -p "$STATE"
  if [[ ! -s $PGDATA/PG_VERSION ]]; then
    say_do "initdb $PGDATA (owner $(pg_owner))"
    install -d -m 700 -o "$(pg_owner)" "$PGDATA"
    ( umask 077; node -e 'console.log(require("node:crypto").randomBytes(24).toString("base64url"))' > "$STATE/pg-password" )
    # peer for the local socket (the admin, as the OS user postgres), passwords over TCP
    as_pg "$PG_BIN_DIR/initdb" -D "$PGDATA" -U postgres --auth-local=peer --auth-host=scram-sha-256 -E UTF8 >"$STATE/initdb.log" 2>&1 \
      || { tail -n 20 "$STATE/initdb.log" >&2; die "initdb failed (log $STATE/initdb.log)"; }
  fi
  install -d -m 755 -o "$(pg_owner)" "$PG_RUN"
  touch "$STATE/postgres.log"; chown "$(pg_owner)" "$STATE/postgres.log"
  say_do "starting PostgreSQL on 127.0.0.1:$PG_PORT (log $STATE/postgres.log)"
  # -w waits until the server accepts connections
  as_pg "$PG_BIN_DIR/pg_ctl" -D "$PGDATA" -l "$STATE/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PG_RUN -c max_connections=200" start >/dev/null \
    || { tail -n 20 "$STATE/postgres.log" >&2; die "PostgreSQL did not start"; }
  say_ok "PostgreSQL (127.0.0.1:$PG_PORT)"
}

pg_stop() {
  if ! pg_running; then say_skip "PostgreSQL (not running)"; return 0; fi
  as_pg "$PG_BIN_DIR/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
  say_ok "PostgreSQL stopped"
}

# Role, databases and schema: created once, then only brought up to the schema files' version.
pg_schema() {
  local pw db schema exists tool
  pw=$(pg_password)
  if [[ -z $(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = 'temporal'") ]]; then
    psql_admin -c "CREATE ROLE temporal LOGIN CREATEDB PASSWORD '$pw'"
  fi
  tool=("$TEMPORAL_SQL_TOOL_BIN" --ep 127.0.0.1 -p "$PG_PORT" -u temporal --pw "$pw" --plugin postgres12)
  for db in temporal temporal_visibility; do
    schema=temporal; [[ $db == temporal_visibility ]] && schema=visibility
    exists=$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$db'")
    if [[ -z $exists ]]; then
      say_do "database $db: create, schema from $TEMPORAL_SCHEMA_DIR/$schema"
      "${tool[@]}" --db "$db" create >>"$STATE/schema.log" 2>&1 || { tail -n 20 "$STATE/schema.log" >&2; die "creating $db failed"; }
      "${tool[@]}" --db "$db" setup-schema -v 0.0 >>"$STATE/schema.log" 2>&1 || { tail -n 20 "$STATE/schema.log" >&2; die "setup-schema $db failed"; }
    fi
    "${tool[@]}" --db "$db" update-schema -d "$TEMPORAL_SCHEMA_DIR/$schema/versioned" >>"$STATE/schema.log" 2>&1 \
      || { tail -n 20 "$STATE/schema.log" >&2; die "update-schema $db failed (log $STATE/schema.log)"; }
  done
  say_ok "databases temporal, temporal_visibility (schema $(psql_admin -d temporal -c 'SELECT curr_version FROM schema_version' 2>/dev/null || echo '?'), visibility $(psql_admin -d temporal_visibility -c 'SELECT curr_version FROM schema_version' 2>/dev/null || echo '?'))"
}

# ---- Temporal server -----------------------------------------------------------------------------

temporal_config() {
  local pw dir="$STATE/temporal"
  pw=$(pg_password)
  mkdir -p "$dir"
  # Dynamic config: search attributes take effect on the next request (as on the dev server), so
  # a namespace's attributes registered a moment ago are usable at once; each shard's transfer
  # queue is read up to 100 times a second, not 20, as on the dev server (scripts/dev-server.ts).
  cat >"$dir/dynamicconfig.yaml" <<'EOF'
system.forceSearchAttributesCacheRefreshOnRead:
  - value: true
    constraints: {}
limit.maxIDLength:
  - value: 255
    constraints: {}
history.transferProcessorMaxPollRPS:
  - value: 100
    constraints: {}
EOF
  ( umask 077; cat >"$dir/config.yaml" <<EOF
# written by scripts/cluster.sh; regenerated at every \`up\`
log:
  stdout: true
  level: warn
persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: 4
  datastores:
    postgres-default:
      sql:
        pluginName: postgres12
        databaseName: temporal
        connectAddr: "127.0.0.1:$PG_PORT"
        connectProtocol: tcp
        user: temporal
        password: "$pw"
        maxConns: 20
        maxIdleConns: 20
        maxConnLifetime: 1h
    postgres-visibility:
      sql:
        pluginName: postgres12
        databaseName: temporal_visibility
        connectAddr: "127.0.0.1:$PG_PORT"
        connectProtocol: tcp
        user: temporal
        password: "$pw"
        maxConns: 10
        maxIdleConns: 10
        maxConnLifetime: 1h
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1
  metrics:
    prometheus:
      framework: tally
      timerType: histogram
      listenAddress: "127.0.0.1:$((T_PORT + 20))"
services:
  frontend:
    rpc: { grpcPort: $T_PORT, membershipPort: $((T_PORT + 100)), bindOnLocalHost: true, httpPort: $((T_PORT + 10)) }
  history:
    rpc: { grpcPort: $((T_PORT + 1)), membershipPort: $((T_PORT + 101)), bindOnLocalHost: true }
  matching:
    rpc: { grpcPort: $((T_PORT + 2)), membershipPort: $((T_PORT + 102)), bindOnLocalHost: true }
  worker:
    rpc: { grpcPort: $((T_PORT + 6)), membershipPort: $((T_PORT + 106)), bindOnLocalHost: true }
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "$T_ADDRESS"
dcRedirectionPolicy:
  policy: noop
dynamicConfigClient:
  filepath: "$dir/dynamicconfig.yaml"
  pollInterval: 10s
EOF
  )
}

temporal_pid() { pid_of "$STATE/temporal.pid"; }

temporal_healthy() {
  "$TEMPORAL_BIN" operator cluster health --address "$T_ADDRESS" 2>/dev/null | grep -q SERVING
}

temporal_start() {
  local pid
  pid=$(temporal_pid)
  if pid_alive "$pid"; then
    wait_until "the Temporal server (pid $pid)" 120 "$pid" temporal_healthy || die "the Temporal server (pid $pid) runs but does not answer: see $STATE/temporal.log"
    say_ok "Temporal server (running, pid $pid, $T_ADDRESS)"
    return 0
  fi
  temporal_config
  say_do "starting the Temporal server $("$TEMPORAL_SERVER_BIN" --version 2>/dev/null | awk '{print $NF}') on $T_ADDRESS (log $STATE/temporal.log)"
  # setsid + nohup: it outlives this script and its terminal's Ctrl-C; `down` stops it by pid.
  setsid nohup "$TEMPORAL_SERVER_BIN" --config-file "$STATE/temporal/config.yaml" --allow-no-auth start \
    >>"$STATE/temporal.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$STATE/temporal.pid"
  wait_until "the Temporal server" 180 "$pid" temporal_healthy \
    || { tail -n 30 "$STATE/temporal.log" >&2; die "the Temporal server did not come up (log $STATE/temporal.log)"; }
  say_ok "Temporal server (pid $pid, $T_ADDRESS)"
}

temporal_stop() {
  local pid
  pid=$(temporal_pid)
  if ! pid_alive "$pid"; then say_skip "Temporal server (not running)"; rm -f "$STATE/temporal.pid"; return 0; fi
  kill -TERM "$pid"
  wait_until "the Temporal server to stop" 60 "" bash -c "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null || true
  rm -f "$STATE/temporal.pid"
  say_ok "Temporal server stopped"
}

namespace_setup() {
  if ! "$TEMPORAL_BIN" operator namespace describe --address "$T_ADDRESS" -n "$NAMESPACE" >/dev/null 2>&1; then
    "$TEMPORAL_BIN" operator namespace create --address "$T_ADDRESS" -n "$NAMESPACE" --retention 168h >/dev/null
    say_do "namespace $NAMESPACE registered (retention 7 days)"
  fi
  # A namespace just created reaches the frontend's namespace cache on its next refresh (up to
  # about 10 s): until then the operator API answers NOT_FOUND for it.
  wait_until "namespace $NAMESPACE on the frontend" 60 "" "$TEMPORAL_BIN" operator search-attribute list --address "$T_ADDRESS" -n "$NAMESPACE"
  # the readiness of a worker checks them; a workflow upserting a missing one would fail its tasks
  TEMPORAL_ADDRESS=$T_ADDRESS TEMPORAL_NAMESPACE=$NAMESPACE node --import tsx scripts/search-attributes.ts --register
}

# ---- the Temporal UI (only when scripts/bootstrap-cluster.sh could build it) ----------------------

ui_pid() { pid_of "$STATE/ui.pid"; }

ui_start() {
  [[ -n ${TEMPORAL_UI_SERVER_BIN:-} && -x ${TEMPORAL_UI_SERVER_BIN:-} ]] || return 0
  local pid
  pid=$(ui_pid)
  if pid_alive "$pid"; then say_ok "Temporal UI (running, pid $pid, http://127.0.0.1:$UI_PORT)"; return 0; fi
  mkdir -p "$STATE/ui"
  cat >"$STATE/ui/development.yaml" <<EOF
temporalGrpcAddress: $T_ADDRESS
host: 127.0.0.1
port: $UI_PORT
enableUi: true
defaultNamespace: $NAMESPACE
cors:
  allowOrigins: []
EOF
  setsid nohup "$TEMPORAL_UI_SERVER_BIN" --root "$STATE/ui" --config . --env development start >>"$STATE/ui.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$STATE/ui.pid"
  if wait_until "the Temporal UI" 60 "$pid" curl -fsS "http://127.0.0.1:$UI_PORT/"; then
    say_ok "Temporal UI (pid $pid, http://127.0.0.1:$UI_PORT)"
  else
    say_warn "the Temporal UI did not come up (log $STATE/ui.log): the cluster runs without it"
  fi
}

ui_stop() {
  local pid
  pid=$(ui_pid)
  pid_alive "$pid" || { rm -f "$STATE/ui.pid"; return 0; }
  kill -TERM "$pid"
  wait_until "the Temporal UI to stop" 30 "" bash -c "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null || true
  rm -f "$STATE/ui.pid"
  say_ok "Temporal UI stopped"
}

# ---- Docker engines, one per container host ----------------------------------------------------

engine_dir() { echo "$STATE/engine-$1"; }
engine_socket() { echo "$(engine_dir "$1")/docker.sock"; }
engine_pid() { pid_of "$(engine_dir "$1")/docker.pid"; }
engine_answers() { DOCKER_HOST="unix://$(engine_socket "$1")" timeout 5 docker version --format '{{.Server.Version}}'; }

engine_start() {
  local host=$1 dir sock pid
  dir=$(engine_dir "$host"); sock=$(engine_socket "$host")
  pid=$(engine_pid "$host")
  if pid_alive "$pid" && engine_answers "$host" >/dev/null 2>&1; then
    say_ok "engine $host (running, pid $pid, unix://$sock)"
  else
    [[ $(id -u) -eq 0 ]] || die "starting a Docker engine of its own needs root (engine $host)"
    mkdir -p "$dir/exec" "$dir/data"
    rm -f "$sock"
    say_do "starting engine $host (unix://$sock, data root $dir/data, log $dir/dockerd.log)"
    # A config file of its own (not the shared engine's /etc/docker/daemon.json): live-restore, so
    # an engine restart (an upgrade) leaves running scenarios running, and gVisor's runsc when
    # installed, registered as scripts/lib.sh registers it with the shared engine.
    node -e '
      const fs = require("node:fs"), [file, runsc, arg] = process.argv.slice(1);
      const config = { "live-restore": true };
      if (fs.existsSync(runsc)) config.runtimes = { runsc: { path: runsc, runtimeArgs: [arg] } };
      fs.writeFileSync(file, JSON.stringify(config, null, 2) + "\n");
    ' "$dir/daemon.json" "$RUNSC_PATH" "$RUNSC_NETWORK_ARG"
    # as scripts/lib.sh starts the shared engine: no bridge, no iptables, no forwarding
    setsid nohup dockerd --config-file "$dir/daemon.json" --bridge=none --iptables=false --ip-forward=false \
      --host "unix://$sock" --pidfile "$dir/docker.pid" --exec-root "$dir/exec" --data-root "$dir/data" \
      >>"$dir/dockerd.log" 2>&1 </dev/null &
    pid=$!
    wait_until "engine $host" 60 "$pid" engine_answers "$host" \
      || { tail -n 20 "$dir/dockerd.log" >&2; die "engine $host did not come up (log $dir/dockerd.log)"; }
    say_ok "engine $host (pid $pid, unix://$sock)"
  fi
  # builds only what changed (a digest per image); one line per image
  DOCKER_SOCKET=$sock node bin/arbiter.js images build | sed "s/^/  [$host] /"
}

engine_stop() { # host, remove containers (1/0)
  local host=$1 remove=$2 pid sock left
  pid=$(engine_pid "$host"); sock=$(engine_socket "$host")
  if ! pid_alive "$pid"; then say_skip "engine $host (not running)"; return 0; fi
  left=$(DOCKER_HOST="unix://$sock" timeout 10 docker ps -aq 2>/dev/null || true)
  if [[ -n $left && $remove == 1 ]]; then
    # shellcheck disable=SC2086 # one id per word
    DOCKER_HOST="unix://$sock" timeout 60 docker rm -f $left >/dev/null 2>&1 || true
    left=""
  fi
  kill -TERM "$pid"
  wait_until "engine $host to stop" 60 "" bash -c "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null || true
  if [[ -n $left ]]; then
    say_ok "engine $host stopped ($(wc -w <<<"$left") containers kept running by live-restore; down --remove-containers removes them)"
  else
    say_ok "engine $host stopped"
  fi
}

# ---- the shared artifact store (versitygw, scripts/store.sh) ------------------------------------

store() { ARBITER_STORE_STATE="$STATE/store" ARBITER_STORE_PORT=$STORE_PORT ARBITER_STORE_BUCKET=$STORE_BUCKET bash scripts/store.sh "$@"; }

# ---- what the rest reads --------------------------------------------------------------------------

write_env() {
  cat >"$STATE/cluster.env" <<EOF
# written by scripts/cluster.sh up: where the cluster shape's parts answer
TEMPORAL_ADDRESS=$T_ADDRESS
TEMPORAL_NAMESPACE=$NAMESPACE
ARBITER_CLUSTER_HOSTS=${HOSTS[*]}
ARBITER_CLUSTER_ENGINE_HOST_A=$(engine_socket host-a)
ARBITER_CLUSTER_ENGINE_HOST_B=$(engine_socket host-b)
ARBITER_CLUSTER_PG_PORT=$PG_PORT
ARBITER_CLUSTER_PG_DATA=$PGDATA
ARBITER_CLUSTER_TEMPORAL_PID_FILE=$STATE/temporal.pid
ARBITER_CLUSTER_UI=$( [[ -n ${TEMPORAL_UI_SERVER_BIN:-} ]] && echo "http://127.0.0.1:$UI_PORT" )
ARBITER_CLUSTER_STORE_ROOT=$STATE/store/root
$(grep '^[A-Z]' "$STATE/store/env")
EOF
}

status() {
  local pid h
  if pg_running; then say_ok "PostgreSQL: running (127.0.0.1:$PG_PORT, data $PGDATA)"; else say_skip "PostgreSQL: down"; fi
  pid=$(temporal_pid)
  if pid_alive "$pid" && temporal_healthy; then say_ok "Temporal server: serving (pid $pid, $T_ADDRESS)"
  elif pid_alive "$pid"; then say_warn "Temporal server: pid $pid runs but does not answer on $T_ADDRESS"
  else say_skip "Temporal server: down"; fi
  pid=$(ui_pid)
  if pid_alive "$pid"; then say_ok "Temporal UI: running (pid $pid, http://127.0.0.1:$UI_PORT)"; else say_skip "Temporal UI: not running$( [[ -z ${TEMPORAL_UI_SERVER_BIN:-} ]] && echo ' (not built: see README)')"; fi
  for h in "${HOSTS[@]}"; do
    pid=$(engine_pid "$h")
    if pid_alive "$pid" && engine_answers "$h" >/dev/null 2>&1; then
      say_ok "engine $h: running (pid $pid, unix://$(engine_socket "$h"), $(DOCKER_HOST="unix://$(engine_socket "$h")" docker ps -q | wc -l) containers running)"
    else say_skip "engine $h: down"; fi
  done
  store status || true
}

cmd=${1:-}
case $cmd in
  up)
    need_tools
    command -v dockerd >/dev/null 2>&1 || die "dockerd not found: run scripts/bootstrap.sh"
    pg_start
    pg_schema
    temporal_start
    namespace_setup
    ui_start
    for h in "${HOSTS[@]}"; do engine_start "$h"; done
    store up
    write_env
    say_ok "cluster up ($STATE/cluster.env)"
    ;;
  down)
    remove=0; [[ ${2:-} == --remove-containers ]] && remove=1
    need_tools
    for h in "${HOSTS[@]}"; do engine_stop "$h" "$remove"; done
    store down
    ui_stop
    temporal_stop
    pg_stop
    ;;
  status)
    need_tools
    status
    ;;
  restart)
    need_tools
    case ${2:-} in
      postgres) pg_stop; pg_start ;;
      temporal) temporal_stop; temporal_start ;;
      *) die "usage: cluster.sh restart postgres|temporal" ;;
    esac
    ;;
  reset)
    need_tools
    for h in "${HOSTS[@]}"; do engine_stop "$h" 1; done
    store down; ui_stop; temporal_stop; pg_stop
    # The store's objects belong to the workflows of the database that goes with them.
    rm -rf "$PGDATA" "$STATE/pg-password" "$STATE/temporal" "$STATE/cluster.env" "$STATE/store"
    say_ok "cluster reset (database and artifact store deleted; engines' images kept)"
    ;;
  *) die "usage: scripts/cluster.sh up|down [--remove-containers]|status|restart postgres|temporal|reset" ;;
esac
