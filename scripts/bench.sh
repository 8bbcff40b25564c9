#!/usr/bin/env bash
# Reproduces the figures of BENCHMARKS.md on this machine: one command, each step also alone.
#
#   scripts/bench.sh [STEP ...]        (default: all; `task bench -- STEP` does the same)
#
# Steps:
#   build     release build of the service and of loadgen (every other step does it first)
#   ingest    POST /webhook: a constant-200 nginx and the service (SQLite, synchronous=FULL),
#             same connections and duration in the same run; prints service ÷ nginx, the write
#             p99, lost messages, and the service's resident memory during the load
#   baseline  a plain Rust SQLite insert loop (loadgen sqlite-baseline) per group size, with the
#             issue's reference schema and with the service's (FTS5 trigram, per-sender counts);
#             after ingest in the same run, prints service ingest ÷ the best group size
#   reads     seeds one service to each of SIZES through the API and runs loadgen read at each;
#             at the largest size also /stats alone and resident memory during reads and writes
#   stats     /stats latency alone over STATS_SIZE messages (seeds its own database)
#   memory    resident memory under write and read load over STATS_SIZE messages (seeds its own)
#   scale     reading at scale: SCALE_SIZE messages seeded once per distribution by the previous
#             binary (PREV_REV); it and the new binary (on a migrated copy) each serve reads at 1 and
#             32 connections, /stats alone; the new one also cursor walks and a feed drain; then a
#             feed consumer beside writers checks exactly-once
#   all       build ingest baseline reads (reads covers stats and memory at the largest size)
#
# Settings (environment):
#   CONNECTIONS=32  DURATION=10s  WARMUP=1s  ROUNDS=1   ingest: nginx/service pairs to run
#   BASELINE_GROUPS=1,32,100,1000  BASELINE_DURATION=5s   (32: the largest group 32 connections can form;
#             the ingest step prints the mean group the service formed, to pick the same size here)
#   BASELINE_SCHEMAS="issue service current"   sqlite-baseline --schema values to run
#   INGEST_ARGS   more loadgen options for ingest's service run and for baseline (e.g. --dist realistic)
#   SIZES="10000 100000 1000000"  READ_DURATION=10s  READ_CONNECTIONS="32 1"  (each; 1 = unloaded latency)
#   STATS_SIZE=1000000   NGINX_WORKERS=2
#   SCALE_SIZE=1000000  SCALE_DISTS="january realistic"   scale: rows per database, loadgen --dist
#   SCALE_WARMUP=40s   scale: warm-up of the steady-state runs (the mix again, then 1 connection)
#   PREV_REV=28750d5  PREV_BIN   scale: the binary before the change (built from git when unset)
#   SCALE_BACKEND=sqlite|postgres  SCALE_PG=postgres://postgres@127.0.0.1:5432   scale on PostgreSQL:
#             databases are created there (needs psql) and dropped afterwards
#   SERVICE_BIN, LOADGEN_BIN   use these binaries and skip the build
#   CARGO_TARGET_DIR           the service's target dir (respected); loadgen builds in loadgen/target
#   BENCH_OUT                  JSON lines file of results (default: <target>/bench/results-<time>.jsonl)
#   BENCH_TMP                  parent of the temporary directories (default: TMPDIR or /tmp)
#
# Needs cargo; installs nginx, jq and curl with apt-get when absent. Runs only on loopback.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONNECTIONS=${CONNECTIONS:-32}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-1s}
ROUNDS=${ROUNDS:-1}
BASELINE_GROUPS=${BASELINE_GROUPS:-1,32,100,1000}
BASELINE_SCHEMAS=${BASELINE_SCHEMAS:-issue service current}
INGEST_ARGS=${INGEST_ARGS:-}
BASELINE_DURATION=${BASELINE_DURATION:-5s}
SIZES=${SIZES:-10000 100000 1000000}
READ_DURATION=${READ_DURATION:-10s}
READ_CONNECTIONS=${READ_CONNECTIONS:-32 1}
STATS_SIZE=${STATS_SIZE:-1000000}
SCALE_SIZE=${SCALE_SIZE:-1000000}
SCALE_DISTS=${SCALE_DISTS:-january realistic}
SCALE_WARMUP=${SCALE_WARMUP:-40s}
PREV_REV=${PREV_REV:-28750d5}
PREV_BIN=${PREV_BIN:-}
SCALE_BACKEND=${SCALE_BACKEND:-sqlite}
SCALE_PG=${SCALE_PG:-postgres://postgres@127.0.0.1:5432}
NGINX_WORKERS=${NGINX_WORKERS:-2}
SECRET=bench-secret-0123456789abcdef
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BENCH_OUT=${BENCH_OUT:-$TARGET_DIR/bench/results-$(date -u +%Y%m%dT%H%M%SZ).jsonl}

WORK=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/webhook-bench.XXXXXX")
PIDS=()          # processes this script started, stopped on exit
SUMMARY=()       # the lines printed again at the end
declare -A BASELINE_BEST
INGEST_RPS=      # the last service ingest rate, for the baseline ratio

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '\n== %s\n' "$*" >&2; }
note() { SUMMARY+=("$*"); printf '%s\n' "$*"; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# Seconds since the epoch, with fractions.
now() { date +%s.%N; }

# A TCP port on 127.0.0.1 where nothing answers a connection (random, tried until one is free).
free_port() {
    local p
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    die "no free port found"
}

# Appends one JSON object (the loadgen line, with step and label added) to BENCH_OUT.
record() { # step label json
    mkdir -p "$(dirname "$BENCH_OUT")"
    local result=$3
    jq -e . >/dev/null 2>&1 <<<"$result" || result=null
    printf '{"step":"%s","label":"%s","at":"%s","result":%s}\n' "$1" "$2" "$(date -u +%FT%TZ)" "$result" >>"$BENCH_OUT"
}

# One field of a JSON object (jq syntax, e.g. .latency_ms.p99); "n/a" when absent or unparsable.
jget() { # json path
    jq -r "$2 // \"n/a\"" <<<"${1:-null}" 2>/dev/null || echo n/a
}

# Seconds in a loadgen duration (10s, 500ms, 2m, 3).
secs() {
    case $1 in
        *ms) awk -v v="${1%ms}" 'BEGIN { print v / 1000 }' ;;
        *s) echo "${1%s}" ;;
        *m) awk -v v="${1%m}" 'BEGIN { print v * 60 }' ;;
        *) echo "$1" ;;
    esac
}

# Removes one pid from PIDS (exact match).
forget() {
    local keep=() p
    for p in "${PIDS[@]}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    PIDS=("${keep[@]}")
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }

# --- build --------------------------------------------------------------------------------------

SERVICE_BIN=${SERVICE_BIN:-}
LOADGEN_BIN=${LOADGEN_BIN:-}
BUILT=

build() {
    [ -n "$BUILT" ] && return
    BUILT=1
    if [ -z "$SERVICE_BIN" ]; then
        log "building the service (release, target dir $TARGET_DIR)"
        (cd "$ROOT" && CARGO_TARGET_DIR="$TARGET_DIR" cargo build --release --bin webhook-ingest)
        SERVICE_BIN=$TARGET_DIR/release/webhook-ingest
    fi
    if [ -z "$LOADGEN_BIN" ]; then
        log "building loadgen (release, target dir $ROOT/loadgen/target)"
        CARGO_TARGET_DIR="$ROOT/loadgen/target" cargo build --release --manifest-path "$ROOT/loadgen/Cargo.toml"
        LOADGEN_BIN=$ROOT/loadgen/target/release/loadgen
    fi
    [ -x "$SERVICE_BIN" ] || die "no service binary at $SERVICE_BIN"
    [ -x "$LOADGEN_BIN" ] || die "no loadgen binary at $LOADGEN_BIN"
}

# --- processes ----------------------------------------------------------------------------------

wait_http() { # url seconds
    local deadline=$((SECONDS + $2))
    until curl -fsS -o /dev/null "$1" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
    done
}

# Starts the service (binary $1, default SERVICE_BIN) on the SQLite database in directory $2
# (default: a fresh one, removed when it stops); sets SVC_PID, SVC_URL, SVC_DIR.
start_service() {
    local bin=${1:-$SERVICE_BIN}
    SVC_DIR=${2:-$(mktemp -d "$WORK/service.XXXXXX")}
    SVC_KEEP=${2:+1}
    local port
    port=$(free_port)
    SVC_URL=http://127.0.0.1:$port
    # Run from its own directory with an empty CONFIG_FILE, so no config.toml of the repo leaks in.
    : >"$SVC_DIR/bench.toml"
    (cd "$SVC_DIR" && exec env -u RUST_LOG WEBHOOK_SECRET="$SECRET" PORT="$port" HOST=127.0.0.1 \
        DATABASE_URL="${SVC_DATABASE_URL:-sqlite://$SVC_DIR/app.db}" LOG_LEVEL=warn READ_API_TOKEN= \
        CONFIG_FILE="$SVC_DIR/bench.toml" "$bin" >"$SVC_DIR/service.log" 2>&1) &
    SVC_PID=$!
    PIDS+=("$SVC_PID")
    # Migrating a large database of an older release rebuilds tables: give it time.
    wait_http "$SVC_URL/health/ready" 900 || { tail -20 "$SVC_DIR/service.log" >&2; die "service did not become ready"; }
    echo "service pid $SVC_PID on $SVC_URL, database $SVC_DIR/app.db" >&2
}

# Stops the service with SIGTERM; complains if it exits non-zero or logged errors.
stop_service() {
    kill -TERM "$SVC_PID" 2>/dev/null || true
    local rc=0
    wait "$SVC_PID" || rc=$?
    forget "$SVC_PID"
    [ "$rc" -eq 0 ] || note "WARNING: the service exited with code $rc after SIGTERM"
    local errors
    errors=$(grep -c '"level":5[0-9]' "$SVC_DIR/service.log" || true)
    if [ "${errors:-0}" -gt 0 ]; then
        note "WARNING: the service logged $errors error lines; first ones:"
        grep '"level":5[0-9]' "$SVC_DIR/service.log" | head -3 | cut -c1-300
    fi
    [ -n "$SVC_KEEP" ] || rm -rf "$SVC_DIR"
}

APT_UPDATED=
apt_install() { # package...
    export DEBIAN_FRONTEND=noninteractive
    [ -n "$APT_UPDATED" ] || { apt-get update -qq; APT_UPDATED=1; }
    apt-get install -y -qq "$@" >/dev/null
}

install_nginx() {
    command -v nginx >/dev/null 2>&1 && return
    [ -x /usr/sbin/nginx ] && return
    log "installing nginx (apt-get)"
    apt_install nginx-light || apt_install nginx
}

# A private nginx answering 200 {"status":"ok"} to everything; sets NGINX_PID, NGINX_URL.
start_nginx() {
    install_nginx
    local nginx dir port
    nginx=$(command -v nginx || echo /usr/sbin/nginx)
    dir=$(mktemp -d "$WORK/nginx.XXXXXX")
    port=$(free_port)
    NGINX_URL=http://127.0.0.1:$port
    cat >"$dir/nginx.conf" <<EOF
worker_processes $NGINX_WORKERS;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
        listen 127.0.0.1:$port;
        location / {
            default_type application/json;
            return 200 '{"status":"ok"}';
        }
    }
}
EOF
    "$nginx" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;' &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    wait_http "$NGINX_URL/" 20 || { cat "$dir/error.log" >&2; die "nginx did not start"; }
    echo "nginx pid $NGINX_PID on $NGINX_URL ($NGINX_WORKERS workers, $("$nginx" -v 2>&1))" >&2
}

stop_nginx() {
    kill -QUIT "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
    forget "$NGINX_PID"
}

# --- resident memory ----------------------------------------------------------------------------

# Resets the peak (VmHWM) of a process and samples VmRSS every 200 ms in the background.
rss_start() { # pid
    echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true
    RSS_FILE=$(mktemp "$WORK/rss.XXXXXX")
    (while [ -r "/proc/$1/status" ]; do
        awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null
        sleep 0.2
    done) >"$RSS_FILE" &
    RSS_PID=$!
    PIDS+=("$RSS_PID")
}

# Prints "rss_max_mib hwm_mib" for the window since rss_start.
rss_stop() { # pid
    kill "$RSS_PID" 2>/dev/null || true
    wait "$RSS_PID" 2>/dev/null || true
    forget "$RSS_PID"
    local max hwm
    max=$(sort -n "$RSS_FILE" | tail -1)
    hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$1/status")
    awk -v m="${max:-0}" -v h="${hwm:-0}" 'BEGIN { printf "%.1f %.1f\n", m / 1024, h / 1024 }'
}

# Prints "groups mean_updates_per_group" from the running service's metrics ("- -" when it has none).
group_size() {
    curl -fsS "$SVC_URL/metrics" 2>/dev/null | awk '
        $1 == "storage_write_groups_total" { g = $2 }
        $1 == "storage_write_group_updates_total" { u = $2 }
        END { if (g > 0) printf "%d %.1f\n", g, u / g; else print "- -" }'
}

# --- loadgen wrappers ---------------------------------------------------------------------------

# Runs loadgen with --json; its human summary goes to stderr, the JSON line is echoed.
loadgen() {
    local out rc=0
    out=$("$LOADGEN_BIN" "$@" --json) || rc=$?
    echo "$out"
    return $rc
}

# Seeds the running service up to $1 messages in total (it already holds $2).
seed_to() { # total already [more loadgen seed options]
    local n=$(($1 - $2)) t0 t1 out
    [ "$n" -gt 0 ] || return 0
    log "seeding $n messages (to $1) through POST /webhook"
    t0=$(now)
    out=$(loadgen seed --target "$SVC_URL" --secret "$SECRET" --count "$n" -c "$CONNECTIONS" --service-pid "$SVC_PID" \
        "${@:3}") ||
        die "seeding failed: $out"
    t1=$(now)
    record seed "to-$1" "$out"
    note "$(printf 'seed     %8d -> %-8d  %8.1f msg/s  %6.1f s  retries %s' "$2" "$1" "$(jget "$out" .rate)" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$(jget "$out" .retries)")"
}

# --- steps --------------------------------------------------------------------------------------

step_ingest() {
    build
    log "ingest: $CONNECTIONS connections, $DURATION measured after $WARMUP warm-up, $ROUNDS round(s)"
    start_nginx
    local round out_n out_s rps_n rps_s mem pool
    # nginx answers far faster than 20,000/s: give loadgen enough unique messages for 100,000/s.
    pool=$(awk -v d="$(secs "$DURATION")" -v w="$(secs "$WARMUP")" 'BEGIN { printf "%d", (d + w) * 100000 }')
    for round in $(seq "$ROUNDS"); do
        log "round $round: constant-200 nginx"
        out_n=$(loadgen write --target "$NGINX_URL" --secret "$SECRET" -c "$CONNECTIONS" --duration "$DURATION" \
            --warmup "$WARMUP" --no-verify --pool "$pool") || die "loadgen against nginx failed"
        record ingest "nginx-round-$round" "$out_n"
        log "round $round: the service (fresh SQLite database, synchronous=FULL)"
        start_service
        rss_start "$SVC_PID"
        local rc=0
        # shellcheck disable=SC2086 # INGEST_ARGS is a list of options
        out_s=$(loadgen write --target "$SVC_URL" --secret "$SECRET" -c "$CONNECTIONS" --duration "$DURATION" \
            --warmup "$WARMUP" --service-pid "$SVC_PID" $INGEST_ARGS) || rc=$?
        mem=$(rss_stop "$SVC_PID")
        [ -n "$out_s" ] || die "loadgen against the service printed nothing"
        record ingest "service-round-$round" "$out_s"
        local grouping
        grouping=$(group_size)
        stop_service
        rps_n=$(jget "$out_n" .rps)
        rps_s=$(jget "$out_s" .rps)
        INGEST_RPS=$rps_s
        note "$(printf 'ingest round %d  nginx %9.1f req/s (p99 %s ms)' "$round" "$rps_n" "$(jget "$out_n" .latency_ms.p99)")"
        note "$(printf 'ingest round %d  service %7.1f req/s  p50 %s ms  p99 %s ms  max %s ms  200=%s 503=%s errors=%s' \
            "$round" "$rps_s" "$(jget "$out_s" .latency_ms.p50)" "$(jget "$out_s" .latency_ms.p99)" \
            "$(jget "$out_s" .latency_ms.max)" "$(jget "$out_s" '.status."200"')" "$(jget "$out_s" '.status."503"')" \
            "$(jget "$out_s" .status.errors)")"
        note "$(printf 'ingest round %d  acknowledged %s  lost %s  service cores %s  loadgen cores %s  RSS max %s MiB (VmHWM %s MiB)' \
            "$round" "$(jget "$out_s" .verify.acknowledged)" "$(jget "$out_s" .verify.lost)" \
            "$(jget "$out_s" .cpu.service_cores)" "$(jget "$out_s" .cpu.loadgen_cores)" ${mem})"
        note "$(printf 'ingest round %d  groups committed %s, mean group %s updates (warm-up and check included)' "$round" ${grouping})"
        note "$(printf 'ingest round %d  RATIO service / nginx = %s   (target >= 0.4)' "$round" "$(ratio "$rps_s" "$rps_n")")"
        [ "$rc" -eq 0 ] || note "WARNING: loadgen write against the service exited $rc (lost messages or nothing acknowledged)"
        [ "$(jget "$out_n" .pool_exhausted)" != true ] || note "WARNING: the nginx run used up its message pool"
    done
    stop_nginx
}

step_baseline() {
    build
    local schema out g row
    # issue: the issue's reference schema; service: plus the service's FTS5 trigram index, folded
    # text and per-sender counts, i.e. the storage work the service's own write does.
    # current: the service's SQLite schema and per-row statements of today.
    for schema in $BASELINE_SCHEMAS; do
        log "baseline: plain Rust SQLite insert loop, schema $schema, groups $BASELINE_GROUPS, $BASELINE_DURATION each"
        # shellcheck disable=SC2086 # INGEST_ARGS is a list of options
        out=$("$LOADGEN_BIN" sqlite-baseline --schema "$schema" --group "$BASELINE_GROUPS" \
            --duration "$BASELINE_DURATION" --dir "$WORK" $INGEST_ARGS --json) || die "sqlite-baseline failed"
        record baseline "sqlite-$schema" "$out"
        for g in $(jq -r '.groups[].group' <<<"$out"); do
            row=$(jq -c ".groups[] | select(.group == $g)" <<<"$out")
            note "$(printf 'baseline %-7s group %5s  %10.1f rows/s  commit p50 %s ms  p99 %s ms' "$schema" "$g" \
                "$(jget "$row" .rows_per_s)" "$(jget "$row" .commit_ms.p50)" "$(jget "$row" .commit_ms.p99)")"
        done
        note "baseline $schema best $(jget "$out" .best_rows_per_s) rows/s"
        BASELINE_BEST[$schema]=$(jget "$out" .best_rows_per_s)
    done
    if [ -n "${INGEST_RPS:-}" ]; then
        for schema in $BASELINE_SCHEMAS; do
            note "RATIO service ingest / baseline best ($schema schema) = $(ratio "$INGEST_RPS" "${BASELINE_BEST[$schema]}")"
        done
    fi
}

# One read run at the current size; $1 = size label, $2 = connections, $3 = stats share.
read_run() { # size connections stats-share [more loadgen read options]
    local size=$1 conns=$2 share=$3 out rc=0 label
    shift 3
    label="$size-c$conns"
    [ "$share" != 1 ] || label="$label-stats-only"
    out=$(loadgen read --target "$SVC_URL" -c "$conns" --duration "$READ_DURATION" --warmup "${READ_WARMUP:-$WARMUP}" \
        --stats-share "$share" --service-pid "$SVC_PID" "$@") || rc=$?
    record reads "$label" "$out"
    if [ "$share" = 1 ]; then
        note "$(printf 'stats  %8s c=%-3s  %8.1f req/s  p50 %s ms  p99 %s ms  max %s ms' "$size" "$conns" \
            "$(jget "$out" .stats.rps)" "$(jget "$out" .stats.latency_ms.p50)" "$(jget "$out" .stats.latency_ms.p99)" \
            "$(jget "$out" .stats.latency_ms.max)")"
    else
        note "$(printf 'reads  %8s c=%-3s  all %8.1f req/s p50 %s p99 %s | messages p50 %s p99 %s | stats p50 %s p99 %s (ms)' \
            "$size" "$conns" "$(jget "$out" .rps)" "$(jget "$out" .latency_ms.p50)" "$(jget "$out" .latency_ms.p99)" \
            "$(jget "$out" .messages.latency_ms.p50)" "$(jget "$out" .messages.latency_ms.p99)" \
            "$(jget "$out" .stats.latency_ms.p50)" "$(jget "$out" .stats.latency_ms.p99)")"
        local shape
        for shape in none from since from+since q from+q since+q from+since+q; do
            note "$(printf '         %-13s %6s req  p50 %7s ms  p99 %7s ms  max %7s ms' "$shape" \
                "$(jget "$out" ".by_filter.\"$shape\".requests")" "$(jget "$out" ".by_filter.\"$shape\".latency_ms.p50")" \
                "$(jget "$out" ".by_filter.\"$shape\".latency_ms.p99")" "$(jget "$out" ".by_filter.\"$shape\".latency_ms.max")")"
        done
    fi
    [ "$rc" -eq 0 ] || note "WARNING: loadgen read at $size exited $rc (failed requests or unexpected statuses)"
}

# Resident memory over the loaded service: a write run and a read run, each with the peak reset.
memory_runs() { # size label
    local mem out rc=0
    log "memory at $1 messages: write load"
    rss_start "$SVC_PID"
    # No durability check here: at 10^6 rows it pages through every touched sender's rows with
    # growing offsets, which takes minutes; the ingest step checks lost = 0 on a fresh database.
    out=$(loadgen write --target "$SVC_URL" --secret "$SECRET" -c "$CONNECTIONS" --duration "$DURATION" \
        --warmup "$WARMUP" --service-pid "$SVC_PID" --no-verify) || rc=$?
    mem=$(rss_stop "$SVC_PID")
    record memory "write-$1" "$out"
    note "$(printf 'memory %8s  under write: RSS max %s MiB (VmHWM %s MiB)  [%s req/s, p99 %s ms, 503=%s errors=%s]' \
        "$1" ${mem} "$(jget "$out" .rps)" "$(jget "$out" .latency_ms.p99)" "$(jget "$out" '.status."503"')" \
        "$(jget "$out" .status.errors)")"
    [ "$rc" -eq 0 ] || note "WARNING: loadgen write at $1 exited $rc"
    log "memory at $1 messages: read load"
    rss_start "$SVC_PID"
    rc=0
    out=$(loadgen read --target "$SVC_URL" -c "$CONNECTIONS" --duration "$READ_DURATION" --warmup "$WARMUP" \
        --service-pid "$SVC_PID") || rc=$?
    mem=$(rss_stop "$SVC_PID")
    record memory "read-$1" "$out"
    note "$(printf 'memory %8s  under reads: RSS max %s MiB (VmHWM %s MiB)  [%s req/s, p99 %s ms]' "$1" ${mem} \
        "$(jget "$out" .rps)" "$(jget "$out" .latency_ms.p99)")"
    [ "$rc" -eq 0 ] || note "WARNING: loadgen read (memory run) at $1 exited $rc"
}

step_reads() {
    build
    log "reads at ${SIZES// /, } messages (one service, seeded up step by step)"
    start_service
    local have=0 size conns largest
    largest=$(tr ' ' '\n' <<<"$SIZES" | sort -n | tail -1)
    for size in $(tr ' ' '\n' <<<"$SIZES" | sort -n); do
        seed_to "$size" "$have"
        have=$size
        for conns in $READ_CONNECTIONS; do
            log "reads at $size messages, $conns connections"
            read_run "$size" "$conns" 0.1
        done
        if [ "$size" = "$largest" ]; then
            log "/stats alone at $size messages"
            read_run "$size" "$CONNECTIONS" 1
            read_run "$size" 1 1
            memory_runs "$size"
        fi
    done
    note "database file at the end: $(du -sh "$SVC_DIR" | cut -f1)"
    stop_service
}

# The previous release's binary, built from git at PREV_REV (kept under the target dir).
build_prev() {
    [ -z "$PREV_BIN" ] || return 0
    local base=$TARGET_DIR/prev-$PREV_REV
    if [ ! -x "$base/target/release/webhook-ingest" ]; then
        log "building the previous binary at $PREV_REV (release, in $base)"
        rm -rf "$base/tree" && mkdir -p "$base/tree"
        git -C "$ROOT" archive "$PREV_REV" | tar -x -C "$base/tree"
        (cd "$base/tree" && CARGO_TARGET_DIR="$base/target" cargo build --release --bin webhook-ingest)
    fi
    PREV_BIN=$base/target/release/webhook-ingest
}

# Reads over one seeded database: 1 connection with offsets up to 10^4, 32 with the default mix,
# /stats alone, memory under the 32; with
# `new`, also cursor walks and a feed drain.
scale_reads() { # label binary dir dist
    local label=$1 dist=$4 mem out rc
    start_service "$2" "$3"
    log "reads at scale: $label, dist $dist"
    read_run "$label-$dist" 1 0.1 --dist "$dist" --max-offset 10000
    # The load tool's default read mix (offsets up to 1,000), as issue 15's throughput target says.
    rss_start "$SVC_PID"
    read_run "$label-$dist" "$CONNECTIONS" 0.1 --dist "$dist"
    mem=$(rss_stop "$SVC_PID")
    note "$(printf 'memory %s-%s under %s reading connections: RSS max %s MiB (VmHWM %s MiB)' "$label" "$dist" \
        "$CONNECTIONS" ${mem})"
    read_run "$label-$dist" 1 1 --dist "$dist"
    # Steady state: the same mix after a long warm-up, when what a binary remembers of earlier
    # searches has been built; then one connection again, offsets up to 10^4.
    rss_start "$SVC_PID"
    READ_WARMUP=$SCALE_WARMUP read_run "$label-$dist-steady" "$CONNECTIONS" 0.1 --dist "$dist"
    mem=$(rss_stop "$SVC_PID")
    note "$(printf 'memory %s-%s steady, %s reading connections: RSS max %s MiB (VmHWM %s MiB)' "$label" "$dist" \
        "$CONNECTIONS" ${mem})"
    read_run "$label-$dist-steady" 1 0.1 --dist "$dist" --max-offset 10000
    if [ "$label" = new ]; then
        read_run "$label-$dist-cursor" 1 0 --dist "$dist" --cursor --max-depth 100
        rc=0
        out=$(loadgen feed --target "$SVC_URL" --limit 1000 --service-pid "$SVC_PID") || rc=$?
        record scale "feed-$dist" "$out"
        note "$(printf 'feed   %s-%s  %s messages in %s pages: %8.0f messages/s  page p50 %s ms  p99 %s ms' "$label" \
            "$dist" "$(jget "$out" .messages)" "$(jget "$out" .pages)" "$(jget "$out" .messages_per_s)" \
            "$(jget "$out" .latency_ms.p50)" "$(jget "$out" .latency_ms.p99)")"
        [ "$rc" -eq 0 ] || note "WARNING: loadgen feed exited $rc"
    fi
    stop_service
}

step_scale() {
    build
    build_prev
    log "reading at scale on $SCALE_BACKEND: $SCALE_SIZE messages per distribution ($SCALE_DISTS), new binary against $PREV_BIN"
    local dist dir out rc db
    for dist in $SCALE_DISTS; do
        # One seeding by the previous binary; the new one migrates a copy, so both read the same rows.
        dir=$(mktemp -d "$WORK/scale-prev.XXXXXX")
        mkdir -p "$dir.new"
        if [ "$SCALE_BACKEND" = postgres ]; then
            db=bench_scale_$$
            psql -q "$SCALE_PG/postgres" -c "DROP DATABASE IF EXISTS ${db}_prev" -c "DROP DATABASE IF EXISTS ${db}_new" \
                -c "CREATE DATABASE ${db}_prev" >&2
            SVC_DATABASE_URL=$SCALE_PG/${db}_prev start_service "$PREV_BIN" "$dir"
            seed_to "$SCALE_SIZE" 0 --dist "$dist"
            stop_service
            psql -q "$SCALE_PG/postgres" -c "CREATE DATABASE ${db}_new TEMPLATE ${db}_prev" >&2
            SVC_DATABASE_URL=$SCALE_PG/${db}_prev scale_reads prev "$PREV_BIN" "$dir" "$dist"
            SVC_DATABASE_URL=$SCALE_PG/${db}_new scale_reads new "$SERVICE_BIN" "$dir.new" "$dist"
            psql -q "$SCALE_PG/postgres" -c "DROP DATABASE ${db}_prev" -c "DROP DATABASE ${db}_new" >&2
        else
            start_service "$PREV_BIN" "$dir"
            seed_to "$SCALE_SIZE" 0 --dist "$dist"
            stop_service
            cp -a "$dir/." "$dir.new"
            scale_reads prev "$PREV_BIN" "$dir" "$dist"
            scale_reads new "$SERVICE_BIN" "$dir.new" "$dist"
        fi
        rm -rf "$dir" "$dir.new"
    done
    log "consume: writers and one feed consumer on a fresh database"
    if [ "$SCALE_BACKEND" = postgres ]; then
        db=bench_consume_$$
        psql -q "$SCALE_PG/postgres" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >&2
        SVC_DATABASE_URL=$SCALE_PG/$db start_service
    else
        start_service
    fi
    rc=0
    out=$(loadgen consume --target "$SVC_URL" --secret "$SECRET" -c "$CONNECTIONS" --duration "$DURATION" \
        --warmup "$WARMUP" --dist realistic --service-pid "$SVC_PID") || rc=$?
    record scale consume "$out"
    note "$(printf 'consume  %s req/s while consuming: acknowledged %s seen %s lost %s duplicates %s, lag p50 %s ms p99 %s ms' \
        "$(jget "$out" .rps)" "$(jget "$out" .feed.acknowledged)" "$(jget "$out" .feed.seen)" "$(jget "$out" .feed.lost)" \
        "$(jget "$out" .feed.duplicates)" "$(jget "$out" .feed.lag_ms.p50)" "$(jget "$out" .feed.lag_ms.p99)")"
    [ "$rc" -eq 0 ] || note "WARNING: loadgen consume exited $rc (lost or duplicated messages, or no drain)"
    stop_service
    [ "$SCALE_BACKEND" != postgres ] || psql -q "$SCALE_PG/postgres" -c "DROP DATABASE $db" >&2
}

step_stats() {
    build
    start_service
    seed_to "$STATS_SIZE" 0
    read_run "$STATS_SIZE" "$CONNECTIONS" 1
    read_run "$STATS_SIZE" 1 1
    stop_service
}

step_memory() {
    build
    start_service
    seed_to "$STATS_SIZE" 0
    memory_runs "$STATS_SIZE"
    stop_service
}

machine() {
    note "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
    note "service tree $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null)$(cd "$ROOT" && git diff --quiet HEAD -- src migration 2>/dev/null || echo ' (+ uncommitted changes in src/ or migration/)')$([ -z "$SERVICE_BIN" ] || echo "; binary given: $SERVICE_BIN"), results in $BENCH_OUT"
}

main() {
    local steps=("$@")
    [ ${#steps[@]} -gt 0 ] || steps=(all)
    local s
    for s in "${steps[@]}"; do
        case $s in
            build | ingest | baseline | reads | stats | memory | scale | all) ;;
            -h | --help | help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
            *) die "unknown step '$s' (build ingest baseline reads stats memory scale all)" ;;
        esac
    done
    command -v jq >/dev/null 2>&1 || apt_install jq
    command -v curl >/dev/null 2>&1 || apt_install curl
    machine
    for s in "${steps[@]}"; do
        case $s in
            build) build ;;
            ingest) step_ingest ;;
            baseline) step_baseline ;;
            reads) step_reads ;;
            stats) step_stats ;;
            memory) step_memory ;;
            scale) step_scale ;;
            all) build; step_ingest; step_baseline; step_reads ;;
        esac
    done
    printf '\n===== summary =====\n'
    printf '%s\n' "${SUMMARY[@]}"
}

main "$@"
