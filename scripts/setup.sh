#!/usr/bin/env bash
# Make .venv in the checkout and install w2w into it (CPU torch from the wheel on disk), plus the
# Debian packages the tests use: headless Chromium and its driver (the report is checked in a browser).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    as_root=""; [ "$(id -u)" -eq 0 ] || as_root="sudo"
    if command -v apt-get >/dev/null; then
        $as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq chromium chromium-driver >/dev/null
    else
        echo "setup: chromium and chromedriver are missing and there is no apt-get; the browser test will say so" >&2
    fi
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: a bare requirement would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev]"
