#!/usr/bin/env bash
# Sets up the development environment and runs every check: lint, types, the test suite.
# Tests start their own PostgreSQL (pgserver), Redis, OIDC provider, model servers and
# simulated upstreams; Debian packages (Tesseract, redis-server, chromium) come from
# scripts/system-packages.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/system-packages.sh --dev
scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
exec .venv/bin/pytest "$@"
