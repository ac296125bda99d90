#!/usr/bin/env bash
# The test suite in .venv, in tiers (README, "Tests"):
#   bash scripts/test.sh --fast   the fast tier, to run while working: unit tests, no services, no real training
#                                 beyond a few steps
#   bash scripts/test.sh          everything, as CI runs it, in three stages, each stage's time printed:
#                                 fast, then services (integration and slow), then acceptance (the real
#                                 `w2w run`, every README command, the orchestration-scale run)
#   bash scripts/test.sh ARGS     pytest with ARGS (one process), e.g. a file or -k NAME
# Stages run their tests in two pytest-xdist processes of one torch thread each (2 cores; one thread is also
# the faster setting for the tests' small batches), a file's tests in one process, so module fixtures are
# built once. Tests that need services start them themselves: an rclone S3 server on 127.0.0.1, Prefect
# APIs, Dask LocalClusters, PostgreSQL, headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DO_NOT_TRACK=1

FAST="not integration and not slow and not acceptance and not serial"
SERVICES="(integration or slow) and not acceptance and not serial"
SERIAL="serial and not acceptance"
ACCEPTANCE="acceptance"
WORKERS=${W2W_TEST_WORKERS:-2}

run_pytest() {  # pytest in .venv; two processes of one torch thread each unless W2W_TEST_WORKERS=1
    if [ "$WORKERS" -gt 1 ]; then
        OMP_NUM_THREADS=1 .venv/bin/python -m pytest -n "$WORKERS" --dist loadfile "$@"
    else
        OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} .venv/bin/python -m pytest "$@"
    fi
}

stage() {  # stage NAME MARKERS: run one tier, record its time and exit status
    local name=$1 markers=$2 started=$SECONDS status=0
    echo "== stage $name: -m \"$markers\""
    run_pytest -m "$markers" || status=$?
    [ "$status" -eq 5 ] && status=0  # no test selected is not a failure
    TIMES+=("$(printf '%-11s %5d s  exit %d' "$name" $((SECONDS - started)) "$status")")
    [ "$status" -eq 0 ] || FAILED=1
}

case "${1:-}" in
    --fast)
        shift
        run_pytest -m "$FAST" "$@"
        ;;
    "")
        bash scripts/setup_test_system.sh  # Chromium and PostgreSQL, which only the tests use (once per machine)
        TIMES=() FAILED=0 STARTED=$SECONDS
        echo "== lint: ruff check ."
        .venv/bin/ruff check . || FAILED=1
        stage fast "$FAST"
        stage services "$SERVICES"
        WORKERS=1 stage serial "$SERIAL"
        stage acceptance "$ACCEPTANCE"
        echo "== stage times"
        printf '%s\n' "${TIMES[@]}"
        echo "all stages: $((SECONDS - STARTED)) s"
        exit "$FAILED"
        ;;
    *)
        bash scripts/setup_test_system.sh
        WORKERS=1 run_pytest "$@"
        ;;
esac
