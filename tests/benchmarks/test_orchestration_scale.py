"""The orchestration scale benchmark at CI size: a real prefect server on SQLite and on PostgreSQL, the
nightly deployment through process workers, every batch task recorded and every row done once."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BATCHES = 30  # the benchmark proper runs 2,000 (docs/reliability.md)


@pytest.mark.integration
@pytest.mark.acceptance
def test_a_small_build_on_sqlite_and_postgresql_ends_with_exactly_the_asked_rows(tmp_path):
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.orchestration_scale", "--batches",
                           str(BATCHES), "--kills", "0", "--backends", "sqlite,postgres", "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads(out.read_text())
    assert [r["backend"] for r in results] == ["sqlite", "postgres"]
    for r in results:
        assert (r["rows"], r["done"], r["task_runs"], r["flow_retries"]) == (BATCHES, BATCHES, BATCHES, 0), r
        assert r["verify_ok"], r
    assert "| postgres |" in proc.stdout and "x the task runs per second" in proc.stdout
