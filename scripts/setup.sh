#!/usr/bin/env bash
# Create .venv and install what the app needs, then this checkout as an editable package (`.venv/bin/explorer`);
# with --dev also the test tools and headless Chromium. Safe to re-run: pip skips what is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
fi

if [ "${1:-}" = "--dev" ]; then
    .venv/bin/python -m pip install --quiet -r requirements-dev.txt
    # Real-browser tests drive Debian's Chromium through playwright (never `playwright install`).
    if ! command -v chromium >/dev/null 2>&1; then
        if [ "$(id -u)" = "0" ]; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
        else
            sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
        fi
    fi
else
    .venv/bin/python -m pip install --quiet -r requirements.txt
fi
# After the pins, so pip finds every dependency pyproject.toml declares already installed.
.venv/bin/python -m pip install --quiet -e .
