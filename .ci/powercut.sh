#!/usr/bin/env bash
# Power-cut test: the release service on a FUSE file system that forgets everything not fsynced
# when the power is cut; POWERCUT_CUTS (20) cuts under write load, each followed by a check that
# every message and status answered 200 survived, that SQLite finds the file sound, and that
# /stats, searches and reads agree with the rows; then cuts with SQLITE_SYNCHRONOUS=normal must
# lose something (the harness can see loss). Exits non-zero on any loss or failed check.
# Needs root and /dev/fuse. About 2-4 minutes after the builds on the 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ] || [ ! -e /dev/fuse ]; then
  echo "powercut: needs root and /dev/fuse" >&2
  exit 1
fi

# fuser mounts through the kernel as root; fusermount3 is its fallback, pkg-config and libfuse3
# what a libfuse build of it would link.
missing=()
command -v fusermount3 >/dev/null 2>&1 || missing+=(fuse3)
dpkg -s libfuse3-dev >/dev/null 2>&1 || missing+=(libfuse3-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --quiet
cargo build --release --quiet --manifest-path powercut/Cargo.toml
# The file system's own tests (real mounts): only fsynced data and entries survive a cut.
cargo test --release --quiet --manifest-path powercut/Cargo.toml

export POWERCUT_SERVICE_BIN="$CARGO_TARGET_DIR/release/webhook-ingest"
export POWERCUT_WORKDIR="${POWERCUT_WORKDIR:-$(mktemp -d /tmp/powercut.XXXXXX)}"
log="$POWERCUT_WORKDIR.log"
status=0
timeout 900 "$CARGO_TARGET_DIR/release/powercut" 2>&1 | tee "$log" || status=$?
if [ "$status" -ne 0 ]; then
  echo "powercut: FAILED (exit $status); service logs in $POWERCUT_WORKDIR/logs" >&2
  exit "$status"
fi
rm -rf "$POWERCUT_WORKDIR"
