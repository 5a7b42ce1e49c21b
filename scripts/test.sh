#!/usr/bin/env bash
# Set up (see setup.sh --dev), lint, and run the whole test suite. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
