#!/usr/bin/env bash
# The GPU check of issues 10 and 12, one script, under 8 minutes on one H100/H200:
#   bash benchmarks/gpu/run.sh            # prints the tables for docs/benchmarks.md
# Runs from this checkout on a bare GPU machine: it installs what that machine lacks
# (diffusers, peft, cupy) from PyPI, or from wheels in .whl/ where there is no network,
# and uses the project from the checkout (PYTHONPATH), not an install.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
need=()
for module in diffusers peft cupy safetensors; do
    "$PY" -c "import $module" 2>/dev/null || need+=("$module")
done
if [ ${#need[@]} -gt 0 ]; then
    if ls .whl/*.whl >/dev/null 2>&1; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/w2w-site .whl/*.whl
        export PYTHONPATH=/tmp/w2w-site${PYTHONPATH:+:$PYTHONPATH}
    else
        pkgs=(); for m in "${need[@]}"; do [ "$m" = cupy ] && pkgs+=(cupy-cuda12x) || pkgs+=("$m"); done
        "$PY" -m pip install -q "${pkgs[@]}"
    fi
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
exec "$PY" -m benchmarks.gpu.bench "$@"
