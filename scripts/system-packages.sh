#!/usr/bin/env bash
# Installs the Debian packages Autan needs from the system, when they are missing:
# Tesseract with its French and English models (OCR of scans and images), and with
# `--dev`, redis-server and chromium for the test suite (quotas, browser tests).
set -euo pipefail

wanted=(tesseract-ocr tesseract-ocr-fra tesseract-ocr-eng)
if [ "${1:-}" = "--dev" ]; then
    wanted+=(redis-server chromium)
fi
missing=()
for package in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
