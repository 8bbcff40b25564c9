#!/usr/bin/env bash
# Read load against two binaries in turn on one seeded SQLite database, so that both are measured
# in one run on a noisy machine. The runs only read, so they can share the file.
#
#   BEFORE_BIN=old AFTER_BIN=new scripts/ab-read.sh DIR ROUNDS
#
# DIR holds app.db (and app.db-search), seeded for example by
# `loadgen seed --count 1000000 -c 32 --dist january --seed 42`. Per binary and round: a fresh
# start, the 32-connection default mix after a 40 s warm-up, its peak RSS, then one connection
# with offsets up to 10^4. Set AB_DIST for another distribution (default january),
# AB_DATABASE_URL to read a PostgreSQL database instead of DIR/app.db (DIR then holds only the
# logs), AB_CURSOR=1 to end each round with one connection walking cursors, and AB_WRITERS=N to
# end it with the 32-connection mix again (15 s) beside N connections writing.
set -euo pipefail
cd "$(dirname "$0")/.."
LOADGEN=${LOADGEN:-$PWD/loadgen/target/release/loadgen}
PORT=${AB_PORT:-8124}
DIST=${AB_DIST:-january}
dir=$(cd "${1:?the directory of the seeded app.db}" && pwd) rounds=${2:-2}
url=${AB_DATABASE_URL:-sqlite://$dir/app.db}
: > "$dir/empty.toml"
pid=
trap '[ -n "$pid" ] && kill "$pid" 2> /dev/null || true' EXIT

run() {
  local name=$1 bin=$2
  WEBHOOK_SECRET=s PORT=$PORT HOST=127.0.0.1 DATABASE_URL="$url" LOG_LEVEL=warn READ_API_TOKEN= \
    CONFIG_FILE="$dir/empty.toml" "$bin" > "$dir/$name.log" 2>&1 &
  pid=$!
  local ready=
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$PORT/health/ready" > /dev/null && ready=1 && break; sleep 0.1; done
  if [ -z "$ready" ]; then
    echo "$name: the service did not become ready; see $dir/$name.log" >&2
    exit 1
  fi
  echo "== $name: 32 connections"
  "$LOADGEN" read --target "http://127.0.0.1:$PORT" -c 32 --duration 10s --warmup 40s --stats-share 0.1 \
    --dist "$DIST" --seed 42 --service-pid "$pid"
  echo "   peak RSS $(awk '/VmHWM/{printf "%.1f", $2/1024}' "/proc/$pid/status") MiB"
  echo "== $name: 1 connection"
  "$LOADGEN" read --target "http://127.0.0.1:$PORT" -c 1 --duration 10s --stats-share 0.1 --dist "$DIST" --seed 7 \
    --max-offset 10000
  if [ -n "${AB_CURSOR:-}" ]; then
    echo "== $name: 1 connection, cursor walks"
    "$LOADGEN" read --target "http://127.0.0.1:$PORT" -c 1 --duration 10s --stats-share 0 --dist "$DIST" --seed 9 \
      --cursor --max-depth 100
  fi
  if [ -n "${AB_WRITERS:-}" ]; then
    echo "== $name: 32 connections beside $AB_WRITERS writing"
    "$LOADGEN" write --target "http://127.0.0.1:$PORT" --secret s -c "$AB_WRITERS" --duration 22s --dist "$DIST" \
      > "$dir/$name.writes" 2>&1 &
    local writer=$!
    sleep 5
    "$LOADGEN" read --target "http://127.0.0.1:$PORT" -c 32 --duration 15s --warmup 1s --stats-share 0.1 \
      --dist "$DIST" --seed 11
    wait "$writer" || { cat "$dir/$name.writes" >&2; exit 1; }
    grep -E '^(write|POST|verify)' "$dir/$name.writes" || cat "$dir/$name.writes"
  fi
  kill "$pid"
  wait "$pid" 2> /dev/null || true
  pid=
}

for r in $(seq 1 "$rounds"); do
  run "before-round-$r" "${BEFORE_BIN:?}"
  run "after-round-$r" "${AFTER_BIN:?}"
done
