#!/usr/bin/env bash
# Create benchmarks/.venv-litellm with the LiteLLM proxy, for the gateway benchmark's
# "litellm" target. Idempotent: a venv that already imports the pinned version is kept.
#
# LiteLLM is pinned on purpose: releases 1.82.7 and 1.82.8 on PyPI were trojaned
# (March 2026 supply-chain attack, credential stealer run from a .pth file), and a later
# release was reported compromised too. 1.82.6 is the widely cited last known-good
# release. Raise the pin only to a release that is known to be clean.
set -euo pipefail

LITELLM_VERSION="${LITELLM_VERSION:-1.82.6}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${LITELLM_VENV:-$here/../.venv-litellm}"
# A Python outside the project's venv, so LiteLLM's dependency pins never meet Autan's.
python="${PYTHON:-python3}"

if [[ -x "$venv/bin/python" ]] \
    && "$venv/bin/python" -c "import importlib.metadata as m, sys; \
sys.exit(m.version('litellm') != '$LITELLM_VERSION')" 2>/dev/null \
    && [[ -x "$venv/bin/litellm" ]]; then
    echo "litellm $LITELLM_VERSION already installed in $venv"
    exit 0
fi

"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "litellm[proxy]==$LITELLM_VERSION"

# The trojaned releases dropped this file into site-packages; refuse a venv that has it.
if find "$venv" -name 'litellm_init.pth' | grep -q .; then
    echo "refusing: $venv contains litellm_init.pth (known malicious payload)" >&2
    exit 1
fi
echo "litellm $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))') installed in $venv"
