"""SIGTERM or Ctrl-C of a long command ends it and everything it started (the temporary Prefect server, worker
processes), and leaves the store consistent: rows not written whole stay pending."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from cli.processes import descendants
from storage.weight_store import WeightStore
from tests.flows.dataset_support import REPO

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return "Z" not in open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_the_build_and_all_it_started(tmp_path, tiny_model_dir, sig):
    url = str(tmp_path / "w.zarr")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}  # a temporary Prefect server
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    command = [sys.executable, "-c", "from cli.main import main; main()", "dataset", "build", url, "--n", "8",
               "--batch-size", "4", "--steps", "2000", "--images", "4", "--model", str(tiny_model_dir),
               "--no-progress", "--workers", "2"]
    proc = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(descendants(proc.pid)) < 3:  # the Prefect server and both workers are up
            assert proc.poll() is None and time.monotonic() < deadline, "the build did not start its workers"
            time.sleep(0.5)
        time.sleep(3)  # the workers are training
        started = descendants(proc.pid)
        proc.send_signal(sig)
        proc.wait(timeout=30)  # ended promptly, not after its batches
        time.sleep(1)
        assert [pid for pid in started if _alive(pid)] == []
    finally:
        proc.kill()
    store = WeightStore.open(url, read_only=True)
    assert store.counts()["done"] == 0 and store.verify().ok  # nothing half-written
