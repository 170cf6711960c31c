#!/usr/bin/env bash
# Brings the whole dev stack up in the foreground: Temporal dev server (SQLite under .data, so a
# restart keeps every workflow) with its UI, the main worker, the container worker and the API.
# Ctrl-C stops everything, API first, Temporal last.
#
#   npm run stack                  the one-machine default above
#   npm run stack -- --cluster     the production shape on this machine (scripts/cluster.sh):
#                                  PostgreSQL, the Temporal server on it, two container hosts
#                                  (host-a, host-b) each with a Docker engine of its own, the S3
#                                  artifact store (versitygw), the main worker and the API;
#                                  deploy/RUNBOOK.md maps it onto machines
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

shape=dev
for arg in "$@"; do
  case $arg in
    --cluster) shape=cluster ;;
    *) die "unknown argument $arg (usage: npm run stack [-- --cluster])" ;;
  esac
done

bash scripts/bootstrap.sh
load_tools_env
set -a; . .data/dev.env; set +a
# Where container hosts listen for the API's relayed subject access (a Unix socket per host).
export ARBITER_ACCESS_SOCKET_DIR="${ARBITER_ACCESS_SOCKET_DIR:-$PWD/.data/access}"

: "${PORT:=8080}" "${TEMPORAL_PORT:=7233}" "${TEMPORAL_UI_PORT:=8233}"
export PORT TEMPORAL_ADDRESS="127.0.0.1:$TEMPORAL_PORT"
mkdir -p .data/temporal .data/logs

# host id → engine socket of every container host this stack runs
declare -A host_sockets=(["${ARBITER_HOST_ID:-local}"]="${DOCKER_SOCKET:-/var/run/docker.sock}")

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  say_do "stopping the stack"
  # reverse start order: nothing is left talking to a server that is already gone
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; wait "${pids[i]}" 2>/dev/null || true; done
  # Warm pool entries nobody claimed (still named arbiter-pool-…) go with the stack; scenarios
  # keep their containers and resume at the next start, as always.
  local pooled host
  for host in "${!host_sockets[@]}"; do
    pooled=$(docker -H "unix://${host_sockets[$host]}" ps -aq --filter "label=io.arbiter.host=$host" --filter name=arbiter-pool- 2>/dev/null || true)
    if [[ -n $pooled ]]; then
      # shellcheck disable=SC2086 # one id per word
      docker -H "unix://${host_sockets[$host]}" rm -f $pooled >/dev/null 2>&1 || true
    fi
  done
  # The cluster's PostgreSQL, Temporal server and engines (scenario containers kept by live-restore).
  if [[ $shape == cluster ]]; then bash scripts/cluster.sh down || true; fi
  say_ok "stack stopped"
}
trap stop INT TERM EXIT

wait_for() { # name, command...
  local name=$1; shift
  for _ in $(seq 1 120); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  die "$name did not come up: see .data/logs/"
}

if [[ $shape == cluster ]]; then
  bash scripts/cluster.sh up
  cluster_var() { sed -n "s/^$1=//p" .data/cluster/cluster.env; }
  TEMPORAL_ADDRESS=$(cluster_var TEMPORAL_ADDRESS)
  TEMPORAL_NAMESPACE=$(cluster_var TEMPORAL_NAMESPACE)
  export TEMPORAL_ADDRESS TEMPORAL_NAMESPACE
  host_sockets=([host-a]="$(cluster_var ARBITER_CLUSTER_ENGINE_HOST_A)" [host-b]="$(cluster_var ARBITER_CLUSTER_ENGINE_HOST_B)")
  temporal_ui=$(cluster_var ARBITER_CLUSTER_UI)
  # The shared artifact store cluster.sh started (versitygw): every process below reads and writes
  # artifacts there; its credentials are the dev ones of .data/dev.env, loaded above.
  for v in ARBITER_ARTIFACT_STORE ARBITER_S3_ENDPOINT ARBITER_S3_BUCKET ARBITER_S3_REGION; do export "$v=$(cluster_var "$v")"; done
else
  say_do "starting Temporal dev server (db .data/temporal/temporal.db)"
  # shellcheck disable=SC2046 # one flag per pragma and attribute, split on purpose
  "$TEMPORAL_BIN" server start-dev --ip 127.0.0.1 --port "$TEMPORAL_PORT" --ui-port "$TEMPORAL_UI_PORT" \
    --db-filename .data/temporal/temporal.db --log-level warn \
    $(node --import tsx scripts/dev-server.ts --flags) >.data/logs/temporal.log 2>&1 &
  pids+=($!)
  wait_for temporal "$TEMPORAL_BIN" operator cluster health --address "$TEMPORAL_ADDRESS"
fi

# The bundles the bootstrap built (dist/*.mjs) with plain node while they match the sources, else
# the sources through tsx (ARBITER_SOURCES=1 forces that), with the variables each process gets
# (MALLOC_ARENA_MAX for the main worker): bin/cli-bundle.js decides.
entry() { # bundle name: the arguments of `env` that run it, one per line
  node --input-type=module -e "import { processEntry } from './bin/cli-bundle.js'; const e = processEntry(process.cwd(), '$1');
    if (!e.bundled) console.error('$1: running the sources through tsx (' + e.reason + ')');
    console.log([...Object.entries(e.env).map(([k, v]) => k + '=' + v), process.execPath, ...e.args].join('\n'))"
}
mapfile -t main_entry < <(entry main-worker)
mapfile -t container_entry < <(entry container-worker)
mapfile -t api_entry < <(entry api-server)
((${#main_entry[@]} && ${#container_entry[@]} && ${#api_entry[@]})) || die "could not tell which code to run (bin/cli-bundle.js)"

say_do "starting workers and API (logs in .data/logs/)"
if [[ $shape == cluster ]]; then
  # Every host by id for the main worker (pickHost); per host its engine, its queue
  # (arbiter-host-<id>) and its access socket; the API reaches each host's access server there.
  cluster_hosts=(host-a host-b)
  main_env=(ARBITER_HOSTS=host-a,host-b)
  api_env=(ARBITER_HOSTS=host-a,host-b "ARBITER_HOST_ACCESS=host-a=unix:$ARBITER_ACCESS_SOCKET_DIR/host-a.sock,host-b=unix:$ARBITER_ACCESS_SOCKET_DIR/host-b.sock")
else
  cluster_hosts=()
  main_env=()
  api_env=()
fi
WORKER_HTTP_PORT=9091 TEMPORAL_METRICS_ADDRESS=127.0.0.1:9191 env "${main_env[@]}" "${main_entry[@]}" >.data/logs/worker-main.log 2>&1 &
pids+=($!)
if [[ $shape == cluster ]]; then
  for i in "${!cluster_hosts[@]}"; do
    host=${cluster_hosts[i]}
    ARBITER_HOST_ID=$host DOCKER_SOCKET=${host_sockets[$host]} WORKER_HTTP_PORT=$((9092 + i)) TEMPORAL_METRICS_ADDRESS=127.0.0.1:$((9192 + i)) \
      ARBITER_ACCESS_LISTEN="unix:$ARBITER_ACCESS_SOCKET_DIR/$host.sock" env "${container_entry[@]}" >".data/logs/worker-container-$host.log" 2>&1 &
    pids+=($!)
  done
else
  WORKER_HTTP_PORT=9092 TEMPORAL_METRICS_ADDRESS=127.0.0.1:9192 env "${container_entry[@]}" >.data/logs/worker-container.log 2>&1 &
  pids+=($!)
fi
env "${api_env[@]}" "${api_entry[@]}" >.data/logs/api.log 2>&1 &
pids+=($!)
wait_for api curl -fsS "http://127.0.0.1:$PORT/healthz"

if [[ $shape == cluster ]]; then
  cat <<EOF

  Arbiter is up, in the cluster shape (bash scripts/cluster.sh status).
    API          http://127.0.0.1:$PORT        (readiness: /readyz, keys: /.well-known/arbiter/keys)
    API docs     http://127.0.0.1:$PORT/docs   (OpenAPI: /openapi.json, metrics: /metrics)
    Temporal     $TEMPORAL_ADDRESS        (server 1.32 on PostgreSQL 127.0.0.1:$(cluster_var ARBITER_CLUSTER_PG_PORT), namespace $TEMPORAL_NAMESPACE)
    Temporal UI  ${temporal_ui:-none in this shape (not built here): temporal workflow list --address $TEMPORAL_ADDRESS}
    Workers      main (queue arbiter-main, ops :9091)
                 host-a (queue arbiter-host-host-a, ops :9092, engine unix://${host_sockets[host-a]})
                 host-b (queue arbiter-host-host-b, ops :9093, engine unix://${host_sockets[host-b]})
    Subjects     http://127.0.0.1:$PORT/scenarios/<id>   (host access: unix:$ARBITER_ACCESS_SOCKET_DIR/host-a.sock, host-b.sock)
    Artifacts    s3://$ARBITER_S3_BUCKET at $ARBITER_S3_ENDPOINT (versitygw, objects in .data/cluster/store/root; arbiter results download <id> <dir>)
    Logs         .data/logs/ and .data/cluster/   Local state  storage/ (operator and billing logs, host reports, working copies)   Secrets  .data/dev.env (dev only)

  Ctrl-C stops everything (the workers, the API, then the engines, the store, Temporal and PostgreSQL).
EOF
else
  cat <<EOF

  Arbiter is up.
    API          http://127.0.0.1:$PORT        (readiness: /readyz, keys: /.well-known/arbiter/keys)
    API docs     http://127.0.0.1:$PORT/docs   (OpenAPI: /openapi.json, metrics: /metrics)
    Temporal     127.0.0.1:$TEMPORAL_PORT       (namespace default)
    Temporal UI  http://127.0.0.1:$TEMPORAL_UI_PORT   (filter: ArbiterTenant="acme" AND ArbiterStatus="running")
    Workers      main (queue arbiter-main), container (queue arbiter-host-${ARBITER_HOST_ID:-local})
    Worker ops   http://127.0.0.1:9091 (main), http://127.0.0.1:9092 (container): /healthz /readyz /metrics
    Subjects     http://127.0.0.1:$PORT/scenarios/<id>   (status, terminal, verdict; host access: unix:$ARBITER_ACCESS_SOCKET_DIR/)
    Verifier     http://127.0.0.1:$PORT/verify
    Logs         .data/logs/   Artifacts  storage/   Secrets  .data/dev.env (dev only)

  Ctrl-C stops everything.
EOF
fi
# returns when any part dies, so a crashed worker is not left unnoticed behind a running stack
wait -n "${pids[@]}"
die "a stack process exited: see .data/logs/"
