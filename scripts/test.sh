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
# The suite runs on pytest-xdist workers, each with its own PostgreSQL, Redis, Chromium and
# temporary folders. Four workers on CI's two cores: many tests wait on child processes,
# servers and the model, so more workers than cores keep the cores busy (docs/testing.md has
# the figures). PYTEST_XDIST_AUTO_NUM_WORKERS picks another count; `-n 0` or `-p no:xdist`
# runs everything in this one process, for debugging.
export PYTEST_XDIST_AUTO_NUM_WORKERS="${PYTEST_XDIST_AUTO_NUM_WORKERS:-4}"
parallel=(-n auto --dist loadgroup)
for arg in "$@"; do
    case "$arg" in no:xdist | -pno:xdist) parallel=() ;; esac
done
exec .venv/bin/pytest "${parallel[@]}" "$@"
