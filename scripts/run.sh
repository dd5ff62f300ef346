#!/usr/bin/env bash
# Sets Autan up and starts it on http://127.0.0.1:8000 with the embedded models.
# Extra arguments go to `autan serve` (e.g. --port 8080).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/system-packages.sh
scripts/setup.sh --no-dev
exec .venv/bin/autan serve "$@"
