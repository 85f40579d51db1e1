#!/usr/bin/env bash
# Installs everything and runs the main job: simulate a store, check it, draw its pictures, process
# it (perception and cart), put its visits in a review database and open the workstation on the
# held ones. On a machine without a screen pass --no-window (everything but the window runs).
set -euo pipefail
cd "$(dirname "$0")"
WALKOUT_SCREEN=1 bash packaging/setup.sh
exec .venv/bin/walkout demo "$@"
