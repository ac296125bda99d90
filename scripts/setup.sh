#!/usr/bin/env bash
# Make .venv in the checkout and install w2w into it (CPU torch from the wheel on disk), plus the
# Debian packages the tests use.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
# Debian packages: headless Chromium and its driver (the report is checked in a browser), and the
# PostgreSQL server binaries (the orchestration benchmark runs Prefect on PostgreSQL too).
packages=""
command -v chromium >/dev/null && command -v chromedriver >/dev/null || packages="chromium chromium-driver"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || packages="$packages postgresql"
if [ -n "$packages" ]; then
    as_root=""; [ "$(id -u)" -eq 0 ] || as_root="sudo"
    if command -v apt-get >/dev/null; then
        $as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq $packages >/dev/null
    else
        echo "setup: $packages missing and there is no apt-get; the tests that use them will say so" >&2
    fi
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: a bare requirement would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev]"
