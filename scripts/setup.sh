#!/usr/bin/env bash
# Installs everything Autan needs into ./.venv, from the lock file (hashes checked).
# Idempotent: a second run only checks that the environment matches the lock.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.8

if ! python3 -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
    echo "Autan needs Python 3.11 or newer (python3 -V: $(python3 -V 2>&1))" >&2
    exit 1
fi
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    # Debian splits venv out of the interpreter package.
    apt-get update -qq && apt-get install -y -qq python3-venv
fi
if ! .tools/bin/uv --version 2>/dev/null | grep -q " $UV_VERSION"; then
    rm -rf .tools
    python3 -m venv .tools
    .tools/bin/pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
.tools/bin/uv sync --frozen --quiet "$@"
