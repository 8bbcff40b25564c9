#!/usr/bin/env bash
# Write load against two binaries in turn, each on a fresh SQLite database, so that both are
# measured in one run on a noisy machine; then, with `ratio`, the bare loop at the service's group.
#
#   BEFORE_BIN=old AFTER_BIN=new scripts/ab-write.sh write ROUNDS CONNECTIONS [loadgen write args]
#   BEFORE_BIN=old AFTER_BIN=new scripts/ab-write.sh envelope ROUNDS CONNECTIONS MESSAGES
#   AFTER_BIN=new scripts/ab-write.sh ratio CONNECTIONS...
#
# Prints one line per run (req/s or messages/s, p50, p99, max, lost, peak RSS, the log's size); loadgen's JSON
# lines go to $AB_OUT (default target/bench/ab-<time>.jsonl). Each run lasts $AB_DURATION (default 10s).
set -euo pipefail
cd "$(dirname "$0")/.."
LOADGEN=${LOADGEN:-loadgen/target/release/loadgen}
PORT=${AB_PORT:-8123}
OUT=${AB_OUT:-target/bench/ab-$(date +%Y%m%d-%H%M%S).jsonl}
APP_SECRET=appsecret-0123456789
mkdir -p "$(dirname "$OUT")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
: > "$work/empty.toml"

# start BIN DIR: the service on DIR/app.db; sets $pid.
start() {
  WHATSAPP_APP_SECRET=$APP_SECRET WEBHOOK_SECRET=s PORT=$PORT HOST=127.0.0.1 DATABASE_URL="sqlite://$2/app.db" \
    LOG_LEVEL=warn READ_API_TOKEN= CONFIG_FILE="$work/empty.toml" "$1" > "$2/log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health/ready" > /dev/null && return; sleep 0.1; done
  echo "the service did not become ready" >&2; exit 1
}

summary() {
  python3 -c 'import json,sys
j=json.loads(sys.argv[1]); l=j["latency_ms"]
rate = "messages/s %.0f" % j["messages_per_s"] if "messages_per_s" in j else "req/s %.0f" % j["rps"]
print("%s p50 %.1f p99 %.1f max %.1f lost %s" % (rate, l["p50"], l["p99"], l["max"], j["verify"]["lost"]))' "$1"
}

# one NAME BIN ARGS...: a run of `loadgen write ARGS` against BIN on a fresh database.
one() {
  local name=$1 bin=$2; shift 2
  local dir; dir=$(mktemp -d "$work/db.XXXX")
  start "$bin" "$dir"
  local out
  if ! out=$("$LOADGEN" write --target "http://127.0.0.1:$PORT" --secret s --duration "${AB_DURATION:-10s}" --json "$@" 2> "$dir/loadgen.err" | tail -1); then
    cat "$dir/loadgen.err" >&2
    exit 1
  fi
  local hwm; hwm=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
  # The log is reused, and shrunk only back to 256 MiB (journal_size_limit): up to that size, its
  # size is the longest it grew; at 256 MiB it may have grown further.
  local wal; wal=$(stat -c %s "$dir/app.db-wal" 2> /dev/null || echo 0)
  metrics=$(curl -s "http://127.0.0.1:$PORT/metrics")
  kill "$pid"; wait "$pid" 2> /dev/null || true
  echo "$out" >> "$OUT"
  echo "$name: $(summary "$out") rss_peak $((hwm / 1024)) MiB wal $((wal / 1048576)) MiB"
  rm -rf "$dir"
}

mode=${1:?write, envelope or ratio}; shift
case $mode in
  write | envelope)
    rounds=$1 connections=$2; shift 2
    args=(-c "$connections")
    if [ "$mode" = envelope ]; then args+=(--envelope "$1" --app-secret "$APP_SECRET"); shift; fi
    for r in $(seq 1 "$rounds"); do
      one "before round $r" "${BEFORE_BIN:?}" "${args[@]}" "$@"
      one "after round $r" "${AFTER_BIN:?}" "${args[@]}" "$@"
    done
    ;;
  ratio)
    for c in "$@"; do
      one "service c=$c" "${AFTER_BIN:?}" -c "$c"
      group=$(echo "$metrics" | awk '/^storage_write_groups_total/{g=$2} /^storage_write_group_updates_total/{u=$2} END{printf "%d", u/g+0.5}')
      for schema in current issue; do
        "$LOADGEN" sqlite-baseline --schema "$schema" --group "$group" --duration 5s --json | tail -1 | python3 -c '
import json,sys; r=json.load(sys.stdin)["groups"][0]
print("  bare loop %s, group %d: %.0f rows/s, commit p99 %.2f ms" % (sys.argv[1], r["group"], r["rows_per_s"], r["commit_ms"]["p99"]))' "$schema"
      done
    done
    ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
