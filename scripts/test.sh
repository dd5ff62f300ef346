#!/usr/bin/env bash
# Sets up the development environment and runs every check: lint, types, the test suite.
# Tests start their own PostgreSQL (pgserver), Redis, OIDC provider, model servers and
# simulated upstreams; Debian packages (Tesseract, redis-server, chromium) come from
# scripts/system-packages.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

# The suite starts many Python processes (CLI commands, `autan worker`, several servers).
# With PYTHONDONTWRITEBYTECODE set (it is on this development machine, and CI runs on one like it), none of them can reuse
# another's compiled modules: each compiles Autan and its libraries again (5.6 s of CPU to
# import the app without bytecode, 2.5 s with it).
unset PYTHONDONTWRITEBYTECODE

scripts/system-packages.sh --dev
scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# One pytest-xdist worker per core (two on CI). Each worker has its own PostgreSQL, Redis,
# Chromium, embedded models and temporary folders. On CI's two cores the full lane takes
# about 11 minutes this way against 15-16 in one process (docs/testing.md); more workers
# than cores were slower and starved the real models. PYTEST_WORKERS=N decides instead
# (0: one process).
workers="${PYTEST_WORKERS:-auto}"
# `load` hands out tests by their index: Schemathesis's 60 generated cases share one node id
# under pytest 9, and `loadgroup`, which keys tests by node id, ran one of them.
parallel=(-n "$workers" --dist load)
for arg in "$@"; do
    case "$arg" in no:xdist | -pno:xdist) parallel=() ;; esac
done
exec .venv/bin/pytest "${parallel[@]}" "$@"
