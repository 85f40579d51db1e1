#!/usr/bin/env bash
# Installs everything and runs the main job: simulate a store, check it, draw its pictures.
set -euo pipefail
cd "$(dirname "$0")"
bash packaging/setup.sh
exec .venv/bin/walkout demo "$@"
