#!/usr/bin/env bash
# The inbox page in a real browser: Playwright (playwright-core from npm) driving Debian's
# Chromium against the debug binary. Installs what is missing; writes target/inbox.png.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  echo "==> installing chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
if ! command -v node >/dev/null 2>&1; then
  echo "==> installing nodejs and npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi
cargo build --quiet
cd tests/browser
npm ci --no-audit --no-fund --silent
SERVICE_BIN="$PWD/../../target/debug/webhook-ingest" SCREENSHOT_DIR="$PWD/../../target" timeout 300 node --test
