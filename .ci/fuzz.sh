#!/usr/bin/env bash
# Coverage-guided fuzzing: builds the cargo-fuzz targets in fuzz/ and runs each one for a bounded
# time from its committed seed corpus. Any crash, failed property, timeout or out-of-memory fails
# the run; the input that caused it is left in fuzz/artifacts/<target>/. The inputs committed
# under fuzz/regressions/<target>-* are replayed before each target runs.
#
# Knobs: FUZZ_SECONDS (per target, default 60), FUZZ_TARGETS (space-separated, default all),
# FUZZ_MAX_LEN (bytes, default 8192), FUZZ_TIMEOUT (seconds per input, default 20).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-60}"
max_len="${FUZZ_MAX_LEN:-8192}"
timeout="${FUZZ_TIMEOUT:-20}"

# cargo fuzz passes -Z flags (the sanitizer, sancov); the stable toolchain accepts them this way.
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked --version 0.13.2
fi

echo "==> building the fuzz targets"
cargo fuzz build --fuzz-dir fuzz
# Each target is run from the one build above (`cargo fuzz run` would invoke cargo twice more per
# target); the binaries are where cargo put them.
target_dir=$(cargo metadata --manifest-path fuzz/Cargo.toml --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin_dir="$target_dir/x86_64-unknown-linux-gnu/release"
# What cargo fuzz run sets: the sanitizer runtime of a Rust binary reports false ODR violations.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0"

targets="${FUZZ_TARGETS:-$(cargo fuzz list --fuzz-dir fuzz)}"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=0
summary=()
for target in $targets; do
  echo "==> fuzzing $target for ${seconds}s"
  # New inputs go to a scratch corpus; the committed seeds are read, never written.
  mkdir -p "$scratch/$target" "fuzz/artifacts/$target"
  log="$scratch/$target.log"
  status=0
  # Inputs that once failed are replayed first (fuzz/regressions/<target>-*).
  shopt -s nullglob
  regressions=(fuzz/regressions/"$target"-*)
  shopt -u nullglob
  if [ "${#regressions[@]}" -gt 0 ] && ! "$bin_dir/$target" "${regressions[@]}" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    failed=1
    summary+=("fuzz $target: FAILED on a committed regression input (${regressions[*]})")
    echo "${summary[-1]}"
    continue
  fi
  "$bin_dir/$target" -artifact_prefix="fuzz/artifacts/$target/" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len="$max_len" -timeout="$timeout" \
    -print_final_stats=1 -print_funcs=0 "$scratch/$target" "fuzz/corpus/$target" >"$log" 2>&1 || status=$?
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$done_line")
  if [ "$status" -eq 0 ] && [ -n "$done_line" ]; then
    line="fuzz $target: ok, ${runs:-?} runs in ${seconds}s (${rate:-?} exec/s), cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}"
  else
    failed=1
    tail -n 60 "$log" >&2
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    line="fuzz $target: FAILED (exit $status) after ${runs:-?} runs${artifact:+, input in $artifact}"
  fi
  echo "$line"
  summary+=("$line")
done

echo
printf '%s\n' "${summary[@]}"
exit "$failed"
