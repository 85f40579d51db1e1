#!/usr/bin/env bash
# Installs what walkout needs on a fresh Debian/Ubuntu machine: the system libraries Qt needs,
# a virtual environment in .venv, and walkout with its test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SYS_LIBS=(libgl1 libegl1 libfontconfig1 libxkbcommon0 libglib2.0-0 libdbus-1-3)
if [ "${WALKOUT_SCREEN:-0}" = 1 ]; then  # a real X window (Xvfb) needs the xcb plugins' libraries too
  SYS_LIBS+=(xvfb xauth libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0
             libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0)
fi
missing=()
for p in "${SYS_LIBS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  echo "installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch is pinned (2.13.0, CPU build); an unpinned torch would pull a several-GB CUDA build
.venv/bin/python -m pip install -q -e '.[test]'
