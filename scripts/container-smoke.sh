#!/usr/bin/env bash
# Container smoke test: build the image, run it with a throw-away secret on a free port, wait for
# /health/ready and the image's HEALTHCHECK, send one signed webhook and read it back; then the same
# through compose.yaml (default profile: the api service only), including a restart that must keep
# the message in the named volume. Cleans up after itself, always.
#
# Uses podman (and podman-compose) when podman works, else docker (and docker compose).
# Environment knobs:
#   SMOKE_IMAGE      tag to build                        (default localhost/webhook-ingest:smoke)
#   SMOKE_TIMEOUT    seconds to wait for readiness       (default 120)
#   SMOKE_OFFLINE    1: build offline from ~/.cargo/registry (podman only), 0: let cargo fetch;
#                    default: offline when `cargo fetch --locked` works here
#   SMOKE_COMPOSE    0 skips the compose part            (default 1)
#   PODMAN_COMPOSE   path of podman-compose when it is not on PATH
set -euo pipefail
cd "$(dirname "$0")/.."

T0=$(date +%s)
IMAGE=${SMOKE_IMAGE:-localhost/webhook-ingest:smoke}
TIMEOUT=${SMOKE_TIMEOUT:-120}
RUN_ID="whsmoke$$"
TMP=$(mktemp -d)
CID=""
COMPOSE_UP=0
BUILD_SECS=0

step() { printf '\n==> %s\n' "$*"; }
die() { printf '\ncontainer-smoke: FAILED: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- tools
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required but not installed"; }
need curl
need openssl

if command -v podman >/dev/null 2>&1 && podman info >/dev/null 2>&1; then
  ENGINE=podman
elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  ENGINE=docker
else
  die "no working container engine: install podman (see shared/tools/container-env.sh) or start docker"
fi

COMPOSE=()
if [ "$ENGINE" = podman ]; then
  if [ -n "${PODMAN_COMPOSE:-}" ]; then COMPOSE=("$PODMAN_COMPOSE")
  elif command -v podman-compose >/dev/null 2>&1; then COMPOSE=(podman-compose)
  elif [ -x /var/tmp/container-env/venv/bin/podman-compose ]; then COMPOSE=(/var/tmp/container-env/venv/bin/podman-compose)
  fi
  # podman-compose builds OCI images unless told otherwise, and OCI has no HEALTHCHECK.
  export BUILDAH_FORMAT=docker
elif docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
fi
if [ "${SMOKE_COMPOSE:-1}" != 0 ] && [ ${#COMPOSE[@]} -eq 0 ]; then
  die "no compose tool: install podman-compose (or set PODMAN_COMPOSE), or run with SMOKE_COMPOSE=0"
fi
echo "engine: $ENGINE; compose: ${COMPOSE[*]:-none}"

# ---------------------------------------------------------------- clean-up, always
cleanup() {
  local rc=$?
  set +e
  if [ -n "$CID" ]; then
    if [ "$rc" -ne 0 ]; then
      echo "--- last logs of $CID" >&2
      "$ENGINE" logs --tail 40 "$CID" >&2 2>&1
    fi
    "$ENGINE" rm -f -v -t 0 "$CID" >/dev/null 2>&1 || "$ENGINE" rm -f -v "$CID" >/dev/null 2>&1
  fi
  if [ "$COMPOSE_UP" = 1 ]; then
    if [ "$rc" -ne 0 ]; then
      echo "--- compose logs" >&2
      "${COMPOSE[@]}" -p "$RUN_ID" -f compose.yaml logs --tail 40 api >&2 2>&1
    fi
    "${COMPOSE[@]}" -p "$RUN_ID" -f compose.yaml down -v -t 0 >/dev/null 2>&1 \
      || "${COMPOSE[@]}" -p "$RUN_ID" -f compose.yaml down -v >/dev/null 2>&1
  fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    return
  fi
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 20000))
    (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  die "no free port found"
}

sign() { printf '%s' "$1" | openssl dgst -sha256 -hmac "$2" | sed 's/^.* //'; }

# wait_ready BASE_URL CONTAINER: /health/ready answers 200 and the container's health check passes.
wait_ready() {
  local base=$1 ctr=$2 deadline=$(($(date +%s) + TIMEOUT)) code=000 state
  until [ "$code" = 200 ]; do
    state=$("$ENGINE" inspect --format '{{.State.Status}}' "$ctr" 2>/dev/null || echo gone)
    case "$state" in running | created | starting) ;; *) die "container $ctr is $state before becoming ready" ;; esac
    [ "$(date +%s)" -lt "$deadline" ] || die "$base/health/ready did not answer 200 within ${TIMEOUT}s (last: $code)"
    sleep 1
    code=$(curl -s -o "$TMP/ready" -w '%{http_code}' --max-time 5 "$base/health/ready" || true)
  done
  echo "ready: $(cat "$TMP/ready")"
  until health_passes "$ctr"; do
    [ "$(date +%s)" -lt "$deadline" ] || die "the HEALTHCHECK of $ctr did not pass within ${TIMEOUT}s"
    sleep 2
  done
}

health_passes() {
  if [ "$ENGINE" = podman ]; then
    # No systemd timers here: run the image's/compose's health check now.
    local out
    out=$(podman healthcheck run "$1" 2>&1) && { echo "podman healthcheck run: ${out:-healthy}"; return 0; }
    echo "podman healthcheck run: $out (retrying)"
    case "$out" in *"no defined healthcheck"* | *"has no healthcheck"*) die "container $1 has no HEALTHCHECK" ;; esac
    return 1
  fi
  local status
  status=$(docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$1")
  [ "$status" = none ] && die "container $1 has no HEALTHCHECK"
  echo "health: $status"
  [ "$status" = healthy ]
}

# http_expect CODE METHOD URL [curl args...]: the response body lands in $TMP/body.
http_expect() {
  local want=$1 method=$2 url=$3 code
  shift 3
  code=$(curl -sS -o "$TMP/body" -w '%{http_code}' --max-time 10 -X "$method" "$url" "$@") || code=000
  [ "$code" = "$want" ] || die "$method $url answered $code, expected $want: $(head -c 400 "$TMP/body" 2>/dev/null)"
}

# roundtrip BASE_URL SECRET ID: a signed webhook is stored, a forged one refused, the message read back.
roundtrip() {
  local base=$1 secret=$2 id=$3
  local body="{\"message_id\":\"$id\",\"from\":\"+919876543210\",\"to\":\"+14155550100\",\"ts\":\"2025-01-15T10:00:00Z\",\"text\":\"Hello from the container smoke test\"}"
  http_expect 200 POST "$base/webhook" -H 'Content-Type: application/json' \
    -H "X-Signature: $(sign "$body" "$secret")" --data-binary "$body"
  grep -q '"ok"' "$TMP/body" || die "POST /webhook: unexpected answer $(cat "$TMP/body")"
  http_expect 401 POST "$base/webhook" -H 'Content-Type: application/json' \
    -H "X-Signature: $(sign "$body" "not-the-secret")" --data-binary "$body"
  echo "POST /webhook: 200 signed, 401 forged"
  check_stored "$base" "$id"
}

check_stored() {
  local base=$1 id=$2
  http_expect 200 GET "$base/messages?from=%2B919876543210"
  grep -qF "\"message_id\":\"$id\"" "$TMP/body" || die "GET /messages does not list $id: $(cat "$TMP/body")"
  grep -qF '"text":"Hello from the container smoke test"' "$TMP/body" || die "GET /messages: wrong text: $(cat "$TMP/body")"
  grep -qF '"total":1' "$TMP/body" || die "GET /messages: expected total 1: $(cat "$TMP/body")"
  echo "GET /messages: $(cat "$TMP/body")"
}

other_endpoints() {
  local base=$1
  http_expect 200 GET "$base/health/live"
  http_expect 200 GET "$base/stats"
  grep -qF '"total_messages":1' "$TMP/body" || die "GET /stats: expected total_messages 1: $(cat "$TMP/body")"
  http_expect 200 GET "$base/openapi.json"
  http_expect 200 GET "$base/docs"
  http_expect 200 GET "$base/metrics"
  grep -q '^# TYPE ' "$TMP/body" || die "GET /metrics: 200 but not Prometheus text"
  echo "GET /metrics: 200, $(grep -c '^# TYPE ' "$TMP/body") metric families"
  grep -qF "revision=\"$GIT_REVISION\"" "$TMP/body" \
    || die "build_info does not carry revision $GIT_REVISION: $(grep build_info "$TMP/body")"
  echo "GET /health/live, /stats, /openapi.json, /docs: 200"
}

# ---------------------------------------------------------------- 1. build
step "build $IMAGE with $ENGINE"
B0=$(date +%s)
revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
# compose.yaml passes it on too, so its build reuses this one's layers.
export GIT_REVISION=$revision
if [ "$ENGINE" = podman ]; then
  offline=${SMOKE_OFFLINE:-}
  if [ -z "$offline" ]; then
    if command -v cargo >/dev/null 2>&1 && cargo fetch --locked >/dev/null 2>&1; then offline=1; else offline=0; fi
  fi
  build=(podman build --pull=never --format docker -f Containerfile --build-arg "GIT_REVISION=$revision" -t "$IMAGE")
  if [ "$offline" = 1 ]; then
    # Crates come from this machine's cargo registry; the build itself has no network.
    registry="${CARGO_HOME:-$HOME/.cargo}/registry"
    [ -d "$registry" ] || die "SMOKE_OFFLINE=1 but $registry does not exist (run cargo fetch --locked)"
    printf '[net]\noffline = true\n' >"$TMP/cargo-offline.toml"
    build+=(--network none -v "$registry:/usr/local/cargo/registry:O" -v "$TMP/cargo-offline.toml:/usr/local/cargo/config.toml:ro")
    echo "offline build, crates from $registry"
  fi
  "${build[@]}" . || die "podman build failed"
else
  docker build -f Containerfile --build-arg "GIT_REVISION=$revision" -t "$IMAGE" . || die "docker build failed"
fi
BUILD_SECS=$(($(date +%s) - B0))
echo "built in ${BUILD_SECS}s"

user=$("$ENGINE" image inspect --format '{{.Config.User}}' "$IMAGE")
case "$user" in "" | 0 | 0:* | root | root:*) die "the image runs as root (User=\"$user\")" ;; esac
echo "image user: $user"

# ---------------------------------------------------------------- 2. plain run
step "run $IMAGE"
SECRET=$(openssl rand -hex 32)
PORT=$(free_port)
BASE="http://127.0.0.1:$PORT"
CID=$(WEBHOOK_SECRET=$SECRET "$ENGINE" run -d --name "$RUN_ID-run" -p "127.0.0.1:$PORT:8000" -e WEBHOOK_SECRET "$IMAGE") \
  || die "$ENGINE run failed"
echo "container ${CID:0:12} on $BASE"
wait_ready "$BASE" "$CID"
[ "$("$ENGINE" exec "$CID" id -u)" != 0 ] || die "the service runs as root"
roundtrip "$BASE" "$SECRET" "smoke-run-$RUN_ID"
other_endpoints "$BASE"
"$ENGINE" rm -f -v -t 0 "$CID" >/dev/null 2>&1 || "$ENGINE" rm -f -v "$CID" >/dev/null
CID=""

# ---------------------------------------------------------------- 3. compose.yaml
if [ "${SMOKE_COMPOSE:-1}" != 0 ]; then
  step "compose.yaml (default profile) with ${COMPOSE[*]}"
  # Exported values win over a developer's .env; nothing is written to disk.
  # An empty READ_API_TOKEN keeps /messages open whatever a local .env says.
  export WEBHOOK_SECRET API_PORT READ_API_TOKEN=""
  WEBHOOK_SECRET=$(openssl rand -hex 32)
  API_PORT=$(free_port)
  BASE="http://127.0.0.1:$API_PORT"
  dc=("${COMPOSE[@]}" -p "$RUN_ID" -f compose.yaml)
  COMPOSE_UP=1
  C0=$(date +%s)
  "${dc[@]}" up -d --build api || die "compose up failed"
  echo "compose up (build included) took $(($(date +%s) - C0))s"
  ctr() {
    "$ENGINE" ps -q --filter "label=com.docker.compose.project=$RUN_ID" \
      --filter "label=com.docker.compose.service=api" | head -n 1
  }
  api=$(ctr)
  [ -n "$api" ] || die "compose started no api container"
  wait_ready "$BASE" "$api"
  roundtrip "$BASE" "$WEBHOOK_SECRET" "smoke-compose-$RUN_ID"

  step "compose down (volumes kept), up again: the message must survive in the named volume"
  "${dc[@]}" down || die "compose down failed"
  "${dc[@]}" up -d api || die "compose up (second) failed"
  api=$(ctr)
  [ -n "$api" ] || die "compose restarted no api container"
  wait_ready "$BASE" "$api"
  check_stored "$BASE" "smoke-compose-$RUN_ID"

  "${dc[@]}" down -v || die "compose down -v failed"
  COMPOSE_UP=0
fi

# ---------------------------------------------------------------- summary
size=$("$ENGINE" image inspect --format '{{.Size}}' "$IMAGE")
printf '\ncontainer-smoke: OK\n'
printf 'image %s: %s bytes (%s MB)\n' "$IMAGE" "$size" "$((size / 1000000))"
printf 'build %ss, total %ss\n' "$BUILD_SECS" "$(($(date +%s) - T0))"
