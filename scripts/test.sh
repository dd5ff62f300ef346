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
# One process by default: on CI's two cores the suite is CPU-bound (its CPU time is close to
# its wall time), and four pytest-xdist workers were slower (24 min against 18) and made
# the real-model tests time out (docs/testing.md). PYTEST_WORKERS=N runs N workers, each
# with its own PostgreSQL, Redis, Chromium and temporary folders, on a machine with the
# cores for it.
# The fast lane (-m "not slow") has no real model to starve: it spreads over every core
# (1 min 18 s on two cores, against 2 min 16 s in one process).
workers="${PYTEST_WORKERS:-0}"
if [[ -z "${PYTEST_WORKERS:-}" && " $* " == *"not slow"* ]]; then
    workers=auto
fi
# `load` hands out tests by their index: Schemathesis's 60 generated cases share one node id
# under pytest 9, and `loadgroup`, which keys tests by node id, ran one of them.
parallel=(-n "$workers" --dist load)
for arg in "$@"; do
    case "$arg" in no:xdist | -pno:xdist) parallel=() ;; esac
done
exec .venv/bin/pytest "${parallel[@]}" "$@"
