#!/usr/bin/env bash
# The dev artifact store: one SeaweedFS process (`weed mini`: master, volume, filer and S3 gateway)
# on 127.0.0.1, its data and state in .data/store/.
#
#   bash scripts/store.sh up       starts it (or finds it running), creates the bucket, waits until
#                                  it answers, and writes .data/store/env: the variables that select it
#   bash scripts/store.sh down     stops it (the data stays in .data/store/data)
#   bash scripts/store.sh status   says whether it runs
#
# Select it in a process with: set -a; . .data/dev.env; . .data/store/env; set +a
# ARBITER_STORE_PORT (default 8333) is the S3 port; the other SeaweedFS ports are picked free.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

state=.data/store
pidfile=$state/weed.pid
port=${ARBITER_STORE_PORT:-8333}
bucket=${ARBITER_STORE_BUCKET:-arbiter}

running() { [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case ${1:-} in
  up)
    load_tools_env || die ".data/tools.env is missing: run bash scripts/bootstrap.sh"
    [[ -n ${WEED_BIN:-} && -x ${WEED_BIN:-} ]] || die "WEED_BIN is not in .data/tools.env: run bash scripts/bootstrap-seaweedfs.sh"
    set -a; . .data/dev.env; set +a
    [[ -n ${ARBITER_S3_ACCESS_KEY_ID:-} && -n ${ARBITER_S3_SECRET_ACCESS_KEY:-} ]] || die ".data/dev.env has no ARBITER_S3_ACCESS_KEY_ID/ARBITER_S3_SECRET_ACCESS_KEY: run bash scripts/bootstrap-seaweedfs.sh"
    mkdir -p "$state/data"
    {
      echo "# written by scripts/store.sh: selects the dev SeaweedFS store (credentials are in .data/dev.env)"
      echo "ARBITER_ARTIFACT_STORE=s3"
      echo "ARBITER_S3_ENDPOINT=http://127.0.0.1:$port"
      echo "ARBITER_S3_BUCKET=$bucket"
      echo "ARBITER_S3_REGION=us-east-1"
    } > "$state/env"
    if running; then
      say_ok "SeaweedFS already running (pid $(cat "$pidfile"))"
    else
      # The S3 gateway's identities: the one dev identity, allowed everything on its buckets.
      (umask 077; node -e '
        const [id, secret] = [process.env.ARBITER_S3_ACCESS_KEY_ID, process.env.ARBITER_S3_SECRET_ACCESS_KEY];
        console.log(JSON.stringify({ identities: [{ name: "arbiter", credentials: [{ accessKey: id, secretKey: secret }], actions: ["Admin", "Read", "List", "Tagging", "Write"] }] }, null, 2));
      ' > "$state/s3.json")
      # Loopback only; no telemetry (no network here); no WebDAV, admin UI, Iceberg or Lance.
      setsid "$WEED_BIN" mini -dir="$PWD/$state/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -s3.port="$port" -s3.config="$PWD/$state/s3.json" -s3.port.iceberg=0 -s3.port.lance=0 \
        -webdav=false -admin.ui=false -master.telemetry=false \
        > "$state/weed.log" 2>&1 < /dev/null &
      echo $! > "$pidfile"
      say_do "started SeaweedFS (pid $(cat "$pidfile"), S3 on 127.0.0.1:$port, log $state/weed.log)"
    fi
    set -a; . "$state/env"; set +a
    if ! node --import tsx scripts/store-ready.ts; then
      tail -20 "$state/weed.log" >&2 || true
      die "SeaweedFS did not become ready (log: $state/weed.log)"
    fi
    say_ok "artifact store: s3://$bucket at http://127.0.0.1:$port (select it: set -a; . .data/dev.env; . $state/env; set +a)"
    ;;
  down)
    if running; then
      pid=$(cat "$pidfile")
      kill -TERM "$pid"
      # Waits for the process itself to go (tail --pid returns when it exits).
      timeout 60 tail --pid="$pid" -f /dev/null || { kill -KILL "$pid" 2>/dev/null || true; }
      say_ok "SeaweedFS stopped (pid $pid)"
    else
      say_ok "SeaweedFS is not running"
    fi
    rm -f "$pidfile"
    ;;
  status)
    if running; then say_ok "SeaweedFS running (pid $(cat "$pidfile"))"; else say_skip "SeaweedFS not running"; exit 1; fi
    ;;
  *)
    die "usage: bash scripts/store.sh up|down|status"
    ;;
esac
