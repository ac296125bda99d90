#!/usr/bin/env bash
# Make .venv in the checkout and install w2w into it (CPU torch from the wheel on disk): what `w2w` needs,
# and nothing the tests alone need (scripts/test.sh installs those). One line per step; a step's own
# output is shown only if it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
log=$(mktemp)
trap 'rm -f "$log"' EXIT

step() {  # step "what it does" command...: print what, run quietly, show the command's output on failure
    local what=$1 started=$SECONDS
    shift
    printf 'setup: %s ...' "$what"
    if "$@" >"$log" 2>&1; then
        printf ' %d s\n' $((SECONDS - started))
    else
        printf ' failed:\n'
        cat "$log" >&2
        exit 1
    fi
}

[ -x .venv/bin/python ] || step "create .venv with $("$PY" --version 2>&1)" "$PY" -m venv .venv
step "upgrade pip" .venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: a bare requirement would pull a multi-GB CUDA build.
step "install torch 2.13.0 (CPU)" .venv/bin/python -m pip install -q "torch==2.13.0"
step "install w2w and its dependencies into .venv" .venv/bin/python -m pip install -q -e ".[dev]"
echo "setup: done: .venv/bin/w2w --help lists the commands"
