#!/usr/bin/env bash
# Property-based API check: starts the service on a free loopback port with a throw-away secret
# and SQLite database, then lets Schemathesis generate requests from the service's own
# /openapi.json and check every answer: no 5xx, a documented status code, the documented
# content type and a body that matches the documented schema. Always stops the service.
#
# Usage: .ci/schemathesis.sh [BINARY]     (default: target/debug/webhook-ingest, repo-relative)
# Exit status: 0 when Schemathesis found nothing, non-zero otherwise (and on set-up errors).
#
# Environment knobs:
#   SCHEMATHESIS_VENV     virtualenv to create/reuse              (default /tmp/st-venv)
#   ST_MAX_EXAMPLES       --max-examples: cases per operation     (default 50)
#   ST_SEED               Hypothesis seed: same seed, same inputs (default 20250115)
#   ST_REQUEST_TIMEOUT    seconds per request                     (default 10)
#   ST_READY_TIMEOUT      seconds to wait for /health/ready       (default 60)
#   ST_RUN_TIMEOUT        hard bound on the Schemathesis run, s   (default 600)
#   ST_REPORT_DIR         if set, one JUnit report per pass goes there (default: none kept)
#   ST_EXTRA_ARGS         more `st run` options, word-split, e.g. "--continue-on-failure"
#   PYTHON                interpreter used to create the venv     (default python3)
#
# POST /webhook needs an HMAC over the exact body bytes, which no generator can guess. A hook
# (written to the temp dir below) signs each generated request that carries an X-Signature
# header with the right HMAC of the bytes actually sent; requests without one stay unsigned and
# must get the documented 401. Likewise, when a generated GET /webhook carries
# hub.verify_token, the hook puts the configured token in, so both the 200 text/plain
# handshake and the 403 are exercised. Then, with a few fixture messages stored, the read
# operations are run once more (see "the runs" below). No operation is excluded and no check
# is disabled.
set -euo pipefail

CALLER_PWD=$PWD
cd "$(dirname "$0")/.."
ROOT=$PWD

BIN=${1:-target/debug/webhook-ingest}
case "$BIN" in
  /*) ;;
  *) if [ $# -ge 1 ] && [ -e "$CALLER_PWD/$BIN" ]; then BIN="$CALLER_PWD/$BIN"; else BIN="$ROOT/$BIN"; fi ;;
esac

VENV=${SCHEMATHESIS_VENV:-/tmp/st-venv}
ST_SPEC='schemathesis>=4.32,<5'
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-50}
SEED=${ST_SEED:-20250115}
REQUEST_TIMEOUT=${ST_REQUEST_TIMEOUT:-10}
READY_TIMEOUT=${ST_READY_TIMEOUT:-60}
RUN_TIMEOUT=${ST_RUN_TIMEOUT:-600}
PYTHON=${PYTHON:-python3}

T0=$(date +%s)
say() { printf '==> %s\n' "$*"; }
summary() { printf '\nschemathesis: %s (%ss)\n' "$*" "$(($(date +%s) - T0))"; }
die() { summary "ERROR: $*"; exit 2; }

[ -x "$BIN" ] || die "no executable at $BIN (build it first: cargo build)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/st-run.XXXXXX")
SERVER_PID=""
ST_PID=""
TAIL_PID=""
SHOW_LOG=1   # the service's log is shown on set-up failures, not for findings of the run

# shellcheck disable=SC2317 # invoked through the EXIT trap
cleanup() {
  local rc=$?
  set +e
  # Schemathesis first (timeout passes the signal on to it), then the service.
  if [ -n "$ST_PID" ]; then kill -TERM "$ST_PID" 2>/dev/null; wait "$ST_PID" 2>/dev/null; fi
  if [ -n "$TAIL_PID" ]; then kill -TERM "$TAIL_PID" 2>/dev/null; wait "$TAIL_PID" 2>/dev/null; fi
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  if [ "$SHOW_LOG" = 1 ] && [ -s "$TMP/server.log" ]; then
    echo "--- last lines of the service log" >&2
    tail -n 20 "$TMP/server.log" >&2
  fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- Schemathesis in a venv
if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PYTHON" -m venv --help >/dev/null 2>&1 || ! "$PYTHON" -c 'import ensurepip' 2>/dev/null; then
    # A clean Debian machine may lack python3 or its venv module.
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      say "installing python3-venv"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null
      PYTHON=python3
    fi
  fi
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV" || die "could not create a venv with $PYTHON"
fi
# Quiet and offline when already satisfied.
"$VENV/bin/pip" install -q --disable-pip-version-check "$ST_SPEC" || die "pip install $ST_SPEC failed"
ST="$VENV/bin/st"
say "$("$ST" --version 2>&1 | head -n 1)"

# ---------------------------------------------------------------- the service
SECRET=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
VERIFY_TOKEN=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
TWILIO_TOKEN=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
# Twilio signs the URL configured in its console, not the one the request reached.
TWILIO_URL=https://hooks.example.test/webhook/twilio
say "starting $BIN"
# A clean environment, so that no READ_API_TOKEN, CONFIG_FILE or limit from the caller leaks in;
# the working directory is the temp dir, so no ./config.toml is picked up either.
(
  cd "$TMP"
  exec env -i PATH="$PATH" HOME="$TMP" \
    HOST=127.0.0.1 PORT=0 LOG_LEVEL=info \
    WEBHOOK_SECRET="$SECRET" WEBHOOK_VERIFY_TOKEN="$VERIFY_TOKEN" \
    TWILIO_AUTH_TOKEN="$TWILIO_TOKEN" TWILIO_WEBHOOK_URL="$TWILIO_URL" \
    DATABASE_URL="sqlite://$TMP/app.db" \
    "$BIN"
) >"$TMP/server.log" 2>&1 &
SERVER_PID=$!

PORT=""
deadline=$(($(date +%s) + READY_TIMEOUT))
while :; do
  kill -0 "$SERVER_PID" 2>/dev/null || die "the service exited during start-up"
  if [ -z "$PORT" ]; then
    PORT=$(sed -n 's/.*"msg":"listening".*"addr":"\[\{0,1\}127\.0\.0\.1:\([0-9]*\)\]\{0,1\}".*/\1/p' "$TMP/server.log" | head -n 1)
  fi
  if [ -n "$PORT" ] && "$VENV/bin/python" - "$PORT" <<'PY' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health/ready", timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
  then
    break
  fi
  [ "$(date +%s)" -lt "$deadline" ] || die "the service was not ready within ${READY_TIMEOUT}s"
  sleep 0.3
done
BASE="http://127.0.0.1:$PORT"
say "service ready at $BASE"
SHOW_LOG=0

# ---------------------------------------------------------------- the signing hook
cat >"$TMP/st_hooks.py" <<'PY'
"""Gives generated requests what only the test knows: the webhook secret and verify token."""
import base64
import hashlib
import hmac
import os
from urllib.parse import parse_qsl

import requests
import schemathesis

SECRET = os.environ["ST_WEBHOOK_SECRET"].encode()
VERIFY_TOKEN = os.environ["ST_VERIFY_TOKEN"]
TWILIO_TOKEN = os.environ["ST_TWILIO_TOKEN"].encode()
TWILIO_URL = os.environ["ST_TWILIO_URL"]


def _find(mapping, name):
    for key in mapping or {}:
        if key.lower() == name.lower():
            return key
    return None


def _body(case):
    """The bytes the transport will send."""
    data = case.as_transport_kwargs(base_url="http://127.0.0.1")
    prepared = requests.Request(
        method=data["method"], url=data["url"], headers=data.get("headers"),
        data=data.get("data"), json=data.get("json"),
    ).prepare()
    body = prepared.body or b""
    return body.encode("utf-8") if isinstance(body, str) else body


@schemathesis.hook
def before_call(context, case, kwargs):
    method, path = case.operation.method.upper(), case.operation.path
    if (method, path) == ("POST", "/webhook"):
        key = _find(case.headers, "X-Signature")
        if key is None:
            return  # unsigned on purpose: the answer must be the documented 401
        case.headers[key] = hmac.new(SECRET, _body(case), hashlib.sha256).hexdigest()
    elif (method, path) == ("POST", "/webhook/twilio"):
        key = _find(case.headers, "X-Twilio-Signature")
        if key is None:
            return  # unsigned on purpose: the answer must be the documented 401
        # Twilio's scheme: the configured URL, then every parameter sorted, name then value.
        params = sorted(parse_qsl(_body(case).decode("utf-8", "replace"), keep_blank_values=True))
        signed = TWILIO_URL + "".join(k + v for k, v in params)
        digest = hmac.new(TWILIO_TOKEN, signed.encode("utf-8"), hashlib.sha1).digest()
        case.headers[key] = base64.b64encode(digest).decode()
    elif (method, path) == ("GET", "/webhook"):
        # Only a generated hub.verify_token is replaced (and then a generated hub.mode is made
        # `subscribe`): cases without them must still get the documented 403.
        key = _find(case.query, "hub.verify_token")
        if key is not None and isinstance(case.query[key], str):
            case.query[key] = VERIFY_TOKEN
            mode = _find(case.query, "hub.mode")
            if mode is not None and isinstance(case.query[mode], str):
                case.query[mode] = "subscribe"
PY

# ---------------------------------------------------------------- the runs
# Two passes over one service:
#   1. every operation, starting from an empty database (the state a fresh deployment shows);
#   2. after storing a few fixture messages (with text, with "text": null, without text), the
#      read operations again, so that GET /messages and GET /stats answer with real rows. The
#      generator rarely stores anything itself: `ts` has no format in the schema, so generated
#      bodies almost never carry a valid RFC 3339 instant and are (rightly) answered 422.
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
COMMON=(
  --checks "$CHECKS"
  --max-examples "$MAX_EXAMPLES"
  --seed "$SEED"
  --generation-database none
  --workers 1
  --request-timeout "$REQUEST_TIMEOUT"
)
if [ -t 1 ]; then COMMON+=(--force-color); else COMMON+=(--no-color); fi
# shellcheck disable=SC2206 # word splitting is the point
[ -z "${ST_EXTRA_ARGS:-}" ] || COMMON+=(${ST_EXTRA_ARGS})

FAILED=0
TOTAL_CASES=0
results() { local IFS=";"; printf "%s" "${RESULTS[*]}" | sed "s/;/; /g"; }
RESULTS=()
run_st() { # NAME ARGS...: one Schemathesis run, its output shown and kept in $TMP/st-NAME.log
  local name=$1 rc cases closing
  shift
  local args=(run "$BASE/openapi.json" "${COMMON[@]}" "$@")
  if [ -n "${ST_REPORT_DIR:-}" ]; then
    mkdir -p "$ST_REPORT_DIR"
    args+=(--report junit --report-junit-path "$ST_REPORT_DIR/schemathesis-$name.xml")
  fi
  say "[$name] st ${args[*]}"
  # In the background, so that a signal to this script is handled at once (bash defers traps
  # while a foreground command runs); its output is followed on our stdout.
  (
    cd "$TMP"   # keeps .hypothesis/ and any schemathesis.toml of the caller out of the run
    ST_WEBHOOK_SECRET="$SECRET" ST_VERIFY_TOKEN="$VERIFY_TOKEN" SCHEMATHESIS_HOOKS="$TMP/st_hooks.py" \
    ST_TWILIO_TOKEN="$TWILIO_TOKEN" ST_TWILIO_URL="$TWILIO_URL" \
      exec timeout --kill-after=10 "$RUN_TIMEOUT" "$ST" "${args[@]}"
  ) >"$TMP/st-$name.log" 2>&1 </dev/null &
  ST_PID=$!
  tail -n +1 -f --pid="$ST_PID" "$TMP/st-$name.log" &
  TAIL_PID=$!
  rc=0
  wait "$ST_PID" || rc=$?
  wait "$TAIL_PID" 2>/dev/null || true
  ST_PID="" TAIL_PID=""
  # Schemathesis' closing lines: "639 generated, 1 found 2 unique failures" and
  # "=== 2 failures, 1 warning in 13.84s ===".
  cases=$(sed -n 's/^ *\([0-9][0-9]*\) generated.*/\1/p' "$TMP/st-$name.log" | tail -n 1)
  closing=$(sed -n 's/^=\{3,\} \(.*\) in [0-9.]*s =\{3,\}$/\1/p' "$TMP/st-$name.log" | tail -n 1)
  TOTAL_CASES=$((TOTAL_CASES + ${cases:-0}))
  case "$rc" in
    0) RESULTS+=("$name: ${closing:-passed}") ;;
    124|137) RESULTS+=("$name: timed out after ${RUN_TIMEOUT}s"); FAILED=1 ;;
    *) RESULTS+=("$name: ${closing:-st exit $rc}"); FAILED=1 ;;
  esac
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    SHOW_LOG=1
    summary "FAILED: the service died during the $name run; $(results)"
    exit 1
  fi
}

run_st empty-db

say "storing fixture messages"
ST_WEBHOOK_SECRET="$SECRET" "$VENV/bin/python" - "$BASE" <<'PY' || { SHOW_LOG=1; die "could not store the fixture messages"; }
import hashlib, hmac, json, os, sys, urllib.request
base, secret = sys.argv[1], os.environ["ST_WEBHOOK_SECRET"].encode()
fixtures = [
    {"message_id": "st-fixture-text", "from": "+919876543210", "to": "+14155550100",
     "ts": "2025-01-15T10:00:00Z", "text": "Hello"},
    {"message_id": "st-fixture-null", "from": "+919876543210", "to": "+14155550100",
     "ts": "2025-01-15T10:00:01.5Z", "text": None},
    {"message_id": "st-fixture-absent", "from": "+14155550100", "to": "+919876543210",
     "ts": "2025-01-16T08:30:00Z"},
    {"message_id": "st-fixture-unicode", "from": "+447700900123", "to": "+14155550100",
     "ts": "2025-02-01T00:00:00.123456Z", "text": "h\u00e9llo \u2713 100% _x_"},
]
for payload in fixtures:
    body = json.dumps(payload).encode()
    req = urllib.request.Request(f"{base}/webhook", data=body, method="POST", headers={
        "Content-Type": "application/json",
        "X-Signature": hmac.new(secret, body, hashlib.sha256).hexdigest()})
    with urllib.request.urlopen(req, timeout=10) as r:
        if r.status != 200:
            sys.exit(f"{payload['message_id']}: HTTP {r.status}")
print(f"stored {len(fixtures)} fixture messages")
PY

run_st seeded-db --include-path-regex '^/(messages|stats)$'

if [ "$FAILED" = 0 ]; then
  summary "PASSED: $TOTAL_CASES test cases; $(results)"
else
  summary "FAILED: $TOTAL_CASES test cases; $(results)"
fi
exit "$FAILED"
