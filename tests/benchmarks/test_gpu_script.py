"""The prepared GPU script runs end to end (on tiny sizes, on the CPU): its next GPU run will not
fail on a renamed function."""
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # the fast tier's budget: scripts/test.sh --fast
def test_gpu_script_smoke_run_prints_its_tables():
    env = {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.gpu.bench", "--smoke"], cwd=REPO,
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert any(line.startswith("| sequential peft + prior | 1 |") for line in lines)
    assert any(line.startswith("| batched | 4 |") for line in lines)
    inverted = [line for line in lines if line.startswith("| w2w inversion | 2 |")]
    assert inverted and float(inverted[0].split("|")[3]) > 0
    pca = next(line for line in lines if line.startswith("PCA"))
    assert float(pca.split("'cos2': ")[1].split(",")[0]) > 0.999
