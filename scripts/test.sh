#!/usr/bin/env bash
# Run the whole test suite in .venv, one test at a time (torch tests must not share the 2 cores).
# Tests that need services start them themselves: an rclone S3 server on 127.0.0.1,
# an ephemeral Prefect API, a Dask LocalCluster.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_test_system.sh  # Chromium and PostgreSQL, which only the tests use (once per machine)
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DO_NOT_TRACK=1
exec .venv/bin/python -m pytest "$@"
