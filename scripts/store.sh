#!/usr/bin/env bash
# The dev artifact store: one Versity Gateway (versitygw) process serving S3 on 127.0.0.1 over a
# POSIX folder (each bucket is a subfolder of it, each object a file below), state in .data/store/.
#
#   bash scripts/store.sh up       starts it (or finds it running), waits until it answers, creates
#                                  the bucket if missing, and writes .data/store/env: the variables
#                                  that select it (credentials stay in .data/dev.env)
#   bash scripts/store.sh down     stops it (the data stays in .data/store/root)
#   bash scripts/store.sh status   says whether it runs
#
# Select it in a process with: set -a; . .data/dev.env; . .data/store/env; set +a
# ARBITER_STORE_PORT (default 7070) is the S3 port, ARBITER_STORE_BUCKET (default arbiter) the
# bucket, ARBITER_STORE_STATE (default .data/store) the state folder: scripts/cluster.sh runs one
# of its own with its state under .data/cluster/store.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

state=${ARBITER_STORE_STATE:-$ARBITER_DATA_DIR/store}
port=${ARBITER_STORE_PORT:-7070}
bucket=${ARBITER_STORE_BUCKET:-arbiter}
pidfile=$state/versitygw.pid
log=$state/versitygw.log

# The pid file's process, if it still is a versitygw (not another process that got its pid).
store_pid() {
  local pid
  pid=$(cat "$pidfile" 2>/dev/null || true)
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q versitygw && echo "$pid"
}

case ${1:-} in
  up)
    load_tools_env || die ".data/tools.env is missing: run bash scripts/bootstrap.sh"
    [[ -n ${VERSITYGW_BIN:-} && -x ${VERSITYGW_BIN:-} ]] || die "VERSITYGW_BIN is not in .data/tools.env: run bash scripts/bootstrap-store.sh"
    [[ -f $ARBITER_DATA_DIR/dev.env ]] || die ".data/dev.env is missing: run bash scripts/bootstrap.sh"
    set -a; . "$ARBITER_DATA_DIR/dev.env"; set +a
    [[ -n ${ARBITER_S3_ACCESS_KEY_ID:-} && -n ${ARBITER_S3_SECRET_ACCESS_KEY:-} ]] || die ".data/dev.env has no ARBITER_S3_ACCESS_KEY_ID/ARBITER_S3_SECRET_ACCESS_KEY: run bash scripts/bootstrap-store.sh"
    mkdir -p "$state/root"
    {
      echo "# written by scripts/store.sh: selects the dev S3 store (versitygw; credentials are in .data/dev.env)"
      echo "ARBITER_ARTIFACT_STORE=s3"
      echo "ARBITER_S3_ENDPOINT=http://127.0.0.1:$port"
      echo "ARBITER_S3_BUCKET=$bucket"
      echo "ARBITER_S3_REGION=us-east-1"
    } > "$state/env"
    if pid=$(store_pid); then
      say_ok "versitygw already running (pid $pid)"
    else
      # The root account through the environment (not argv, which every process can read); loopback
      # only; no request log on stdout (errors still go to the log).
      ROOT_ACCESS_KEY_ID=$ARBITER_S3_ACCESS_KEY_ID ROOT_SECRET_ACCESS_KEY=$ARBITER_S3_SECRET_ACCESS_KEY \
        setsid nohup "$VERSITYGW_BIN" --port "127.0.0.1:$port" --region us-east-1 --quiet posix "$state/root" \
        >>"$log" 2>&1 </dev/null &
      echo $! > "$pidfile"
      say_do "started versitygw (pid $(cat "$pidfile"), S3 on 127.0.0.1:$port over $state/root, log $log)"
    fi
    set -a; . "$state/env"; set +a
    # (the SDK's notice that its 2027 releases need Node >= 22 is not this probe's business)
    if ! AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true node --import tsx scripts/store-ready.ts; then
      tail -n 20 "$log" >&2 || true
      die "versitygw did not become ready (log: $log)"
    fi
    say_ok "artifact store: s3://$bucket at http://127.0.0.1:$port (select it: set -a; . .data/dev.env; . $state/env; set +a)"
    ;;
  down)
    if pid=$(store_pid); then
      kill -TERM "$pid"
      # Waits for the process itself to go (tail --pid returns when it exits).
      timeout 60 tail --pid="$pid" -f /dev/null || { kill -KILL "$pid" 2>/dev/null || true; }
      say_ok "versitygw stopped (pid $pid)"
    else
      say_skip "versitygw is not running"
    fi
    rm -f "$pidfile"
    ;;
  status)
    if pid=$(store_pid); then say_ok "versitygw running (pid $pid, $(grep '^ARBITER_S3_ENDPOINT=' "$state/env" 2>/dev/null | cut -d= -f2))"; else say_skip "versitygw not running"; exit 1; fi
    ;;
  *)
    die "usage: bash scripts/store.sh up|down|status"
    ;;
esac
