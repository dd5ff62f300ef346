#!/usr/bin/env bash
# How fast can this machine read a grounded prompt? llama.cpp's own llama-bench on the
# default embedded model, built twice from the same source (the llama.cpp that the
# llama-cpp-python sdist on PyPI vendors): for AVX2 only, like the packaged xllamacpp wheel
# Autan serves with, and for this CPU (-march=native). Each build reads a 1,000-token prompt
# (pp1000) and decodes 64 tokens (tg64) with the model as shipped (Q4_K_M) and requantized
# to Q4_0, whose repacked kernels are llama.cpp's fastest on x86.
#
#   benchmarks/answers/prompt_speed.sh          # needs cmake, ninja and a C++ compiler
#
# WORK (default benchmarks/.work/llama-cpp) keeps the sources, builds and models for reruns.
# Writes benchmarks/results/prompt-speed.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK="${WORK:-benchmarks/.work/llama-cpp}"
VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
THREADS="${THREADS:-$(nproc)}"
mkdir -p "$WORK/models"

if [[ ! -d "$WORK/llama_cpp_python-$VERSION" ]]; then
    .venv/bin/python -m pip download --no-deps --no-binary :all: \
        "llama-cpp-python==$VERSION" -d "$WORK" -q
    tar xzf "$WORK/llama_cpp_python-$VERSION.tar.gz" -C "$WORK"
fi
SRC="$WORK/llama_cpp_python-$VERSION/vendor/llama.cpp"
common=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF)
[[ -d "$SRC/build-avx2" ]] || cmake -S "$SRC" -B "$SRC/build-avx2" "${common[@]}" \
    -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
    -DGGML_BMI2=ON -DGGML_AVX512=OFF >/dev/null
[[ -d "$SRC/build-native" ]] || cmake -S "$SRC" -B "$SRC/build-native" "${common[@]}" \
    -DGGML_NATIVE=ON >/dev/null
for build in build-avx2 build-native; do
    cmake --build "$SRC/$build" --target llama-bench llama-quantize -j "$(nproc)" >/dev/null
done

shipped="$WORK/models/qwen2.5-coder-1.5b-instruct.gguf"
[[ -f "$shipped" ]] || .venv/bin/python -c "
from pathlib import Path
from autan.llm.embedded.weights import CATALOGUE, DEFAULT_CHAT_MODEL, assemble
assemble(CATALOGUE[DEFAULT_CHAT_MODEL], Path('$WORK/models'))"
q4_0="$WORK/models/qwen2.5-coder-1.5b-q4_0.gguf"
[[ -f "$q4_0" ]] || "$SRC/build-native/bin/llama-quantize" --allow-requantize \
    "$shipped" "$q4_0" Q4_0 "$THREADS" >/dev/null 2>&1

out=benchmarks/results/prompt-speed.md
{
    echo "# Reading a 1,000-token prompt on this machine — $(date -u +%Y-%m-%dT%H:%M) UTC"
    echo
    echo "\`benchmarks/answers/prompt_speed.sh\`: llama-bench (the llama.cpp vendored by"
    echo "llama-cpp-python $VERSION's sdist), $THREADS threads, $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p'))."
    echo "Load before: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    echo "| build | model file | prompt tokens/s (pp1000) | 1,000-token prompt | decode tokens/s (tg64) |"
    echo "|---|---|---|---|---|"
    for build in build-avx2 build-native; do
        for model in "$shipped" "$q4_0"; do
            "$SRC/$build/bin/llama-bench" -m "$model" -t "$THREADS" -p 1000 -n 64 -r 2 -o csv \
                2>/dev/null | .venv/bin/python -c "
import csv, sys
rows = {(r['n_prompt'], r['n_gen']): float(r['avg_ts']) for r in csv.DictReader(sys.stdin)}
pp, tg = rows[('1000', '0')], rows[('0', '64')]
print(f'| $build | $(basename "$model") | {pp:.1f} | {1000 / pp:.1f} s | {tg:.1f} |')"
        done
    done
    echo
    echo "Load after: $(cut -d' ' -f1-3 /proc/loadavg)."
} | tee "$out"
