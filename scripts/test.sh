#!/usr/bin/env bash
# Sets up the development environment and runs every check: lint, types, the test suite.
# Tests start their own PostgreSQL (pgserver), Redis, OIDC provider, model servers and
# simulated upstreams; only Debian's redis-server package is needed from the system.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends redis-server
fi
if ! command -v chromium >/dev/null 2>&1; then  # the web UI's browser tests (Playwright)
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium
fi
scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
exec .venv/bin/pytest "$@"
