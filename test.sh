#!/usr/bin/env bash
# Installs everything and runs the whole test suite (unit, integration, GUI offscreen, slow end-to-end).
set -euo pipefail
cd "$(dirname "$0")"
bash packaging/setup.sh
exec .venv/bin/python -m pytest "$@"
