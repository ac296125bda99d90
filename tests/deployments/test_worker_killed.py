"""A `prefect worker` killed with its flow run mid-batch, for real: the run is marked Crashed, then retried.

The worker and everything it started get SIGKILL (the machine went away), so
nothing reports the run's end. The zombie automation (deployments/zombies.py)
marks it Crashed once its heartbeats stop; the UI's Retry then reruns it on a
new worker, which trains what the run left (after the dead writer's lease
lapses) and nothing more: the rows stored before the kill keep their bytes.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest

from deployments.dataset import WORK_POOL
from deployments.zombies import HEARTBEAT_S
from storage import format as fmt
from tests.deployments.prefect_support import prefect, prefect_env, prefect_server, run_state, start_worker
from tests.flows.dataset_support import REPO, store_rows

pytestmark = pytest.mark.integration  # a prefect server, process workers, a SIGKILL, the zombie automation

DEPLOYMENT = "grow-and-refit/nightly-grow"
SLOW_STEPS = 15  # seconds per batch: time to kill the worker inside the second one
SILENT_FOR_S = 2 * HEARTBEAT_S + 15  # the automation's window here: a dead run is marked Crashed within it

CREATE_AUTOMATION = f"""
from deployments.zombies import ensure_zombie_automation
ensure_zombie_automation({SILENT_FOR_S})
"""


def _kill_tree(pid: int) -> None:
    """SIGKILL a process and every process under it at once, as a lost machine would."""
    root = psutil.Process(pid)
    for proc in [*root.children(recursive=True), root]:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass


def _wait_for(predicate, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} within {timeout:.0f} s"
        time.sleep(0.2)


def _done(url: str) -> np.ndarray:
    try:
        return np.flatnonzero(store_rows(url)["status"] == fmt.DONE)
    except Exception:  # noqa: BLE001 - no store yet
        return np.array([], dtype=int)


@pytest.mark.integration
def test_a_killed_worker_leaves_a_crashed_run_that_a_retry_finishes(tmp_path, tiny_model_dir):
    url = str(tmp_path / "night.zarr")
    env = {**prefect_env(tmp_path / "prefect-home"), "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_S)}
    params = {"store_url": url, "add_identities": 6, "space": {"k": 2},
              "fan_out": {"workers": 1, "retries": 0, "lease_ttl_s": 5},
              "config": {"finetune": {"steps": SLOW_STEPS}, "base_model": str(tiny_model_dir),
                         "images_per_identity": 4, "batch_size": 2}}
    with prefect_server(env, tmp_path / "server.log"):
        prefect(["work-pool", "create", WORK_POOL, "--type", "process"], env)
        prefect(["--no-prompt", "deploy", "--all"], {**env, "W2W_STORE_URL": url})
        subprocess.run([sys.executable, "-c", CREATE_AUTOMATION], env=env, cwd=REPO, check=True, timeout=120)
        created = prefect(["deployment", "run", DEPLOYMENT, "--params", json.dumps(params)], env)
        run_id = re.search(r"UUID: ([0-9a-f-]{36})", created).group(1)

        worker = start_worker(env)
        try:
            _wait_for(lambda: len(_done(url)) >= 2, "the first batch was not stored", 240)
            time.sleep(1.0)  # inside the second batch
            done_at_kill = _done(url).tolist()
            row_0 = store_rows(url)["vectors"][0]
            _kill_tree(worker.pid)
        finally:
            worker.kill()
            worker.wait()
        assert done_at_kill == [0, 1], "the kill came after the second batch was stored: raise SLOW_STEPS"
        assert run_state(run_id, env) == "RUNNING"  # nothing left to say it ended
        _wait_for(lambda: run_state(run_id, env) == "CRASHED", "the zombie automation did not mark the run Crashed",
                  SILENT_FOR_S + 120)

        prefect(["flow-run", "retry", run_id], env)  # the UI's Retry
        out, _ = start_worker(env).communicate(timeout=300)
        assert run_state(run_id, env) == "COMPLETED", out[-3000:]

    after = store_rows(url)
    assert len(after["status"]) == 6 and (after["status"] == fmt.DONE).all() and len(after["verify_bad"]) == 0
    np.testing.assert_array_equal(after["vectors"][0], row_0)  # the batch stored before the kill was not retrained
