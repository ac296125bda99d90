"""Workers killed for real while they train: a `dask worker` process, SIGKILL, mid-batch.

The scheduler sees the worker's connection drop and reruns its batch on the
worker that replaces it (at-least-once delivery); the rerun waits for the dead
writer's lease to lapse, then trains the batch. The run completes with every row done
once, verify clean, and the killed batch's rows equal the trainer's.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from storage import format as fmt
from storage.s3 import free_port
from tests.flows.dataset_support import REPO, build, dataset_config, direct_vector, store_rows

pytestmark = pytest.mark.integration  # a Dask scheduler and two worker processes, a temporary Prefect server

SLOW_STEPS = 15  # a few seconds per batch: time to kill a worker inside one


def _dask(args: list[str], env: dict[str, str], log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dask", *args], env=env, cwd=REPO, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


@contextmanager
def dask_cluster(env: dict[str, str], log_dir) -> Iterator[tuple[str, Callable[[], subprocess.Popen]]]:
    """A `dask scheduler`, and a way to start one-thread `dask worker` processes (no nanny: a killed one
    stays dead, as when its machine goes away)."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{free_port()}"
    procs = []
    log = open(log_dir / "dask.log", "wb")  # noqa: SIM115 - closed below, after every process ended

    def start_worker() -> subprocess.Popen:
        procs.append(_dask(["worker", address, "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1",
                            "--resources", "GPU=1", "--dashboard-address", ":0"], env, log))
        with Client(address, timeout=60) as client:
            client.wait_for_workers(sum(p.poll() is None for p in procs) - 1, timeout=120)
        return procs[-1]

    try:
        procs.append(_dask(["scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                            "--dashboard-address", ":0"], env, log))
        yield address, start_worker
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _chunk_0_written_ns(url: str) -> int:
    """When the first batch's weights were last written (a local store: one file per chunk)."""
    return os.stat(os.path.join(url, fmt.WEIGHTS, "c", "0", "0")).st_mtime_ns


def _kill_mid_batch_and_replace(worker: subprocess.Popen, start_worker, url: str, killed: dict) -> None:
    """Once the first batch is stored, SIGKILL the worker a second into its next batch; then a new worker
    joins (as an autoscaler replaces a lost machine)."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            if (store_rows(url)["status"] == fmt.DONE).sum() >= 2:
                break
        except Exception:  # noqa: BLE001 - no store yet
            pass
        time.sleep(0.05)
    time.sleep(1.0)
    before = store_rows(url)
    killed["done_before"], killed["row_0"] = np.flatnonzero(before["status"] == fmt.DONE).tolist(), before["vectors"][0]
    killed["chunk_0_written_ns"] = _chunk_0_written_ns(url)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    killed["replacement"] = start_worker()


def test_a_dask_worker_killed_mid_batch_has_its_batch_rerun_on_a_new_one(tmp_path, tiny_model_dir, prefect_api):
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
           "PREFECT_LOGGING_LEVEL": "WARNING"}
    url, config = str(tmp_path / "w.zarr"), dataset_config(tiny_model_dir, steps=SLOW_STEPS)
    killed: dict = {}
    with dask_cluster(env, tmp_path) as (address, start_worker):
        worker = start_worker()
        killer = threading.Thread(target=_kill_mid_batch_and_replace, args=(worker, start_worker, url, killed))
        killer.start()
        try:
            summary = build(url, 6, 2, config, scheduler_address=address, retries=1, lease_ttl_s=3)
        finally:
            killer.join()
        assert worker.returncode == -signal.SIGKILL and killed["replacement"].poll() is None
    assert killed["done_before"] == [0, 1], "the kill came after the second batch was stored: raise SLOW_STEPS"
    trained, before = set(summary["trained_rows"]), set(killed["done_before"])
    # rows 0-1 were trained by this run before the kill: they count as trained when the flow had gathered
    # that batch's report, not when the report died with the worker (Dask recomputes the task, which finds
    # the rows done); either way their chunk is written once
    assert summary["done"] == 6 and trained | before == set(range(6))
    assert _chunk_0_written_ns(url) == killed["chunk_0_written_ns"], "the batch stored before the kill was rewritten"
    after = store_rows(url)
    assert (after["status"] == fmt.DONE).all() and len(after["verify_bad"]) == 0
    np.testing.assert_array_equal(after["vectors"][0], killed["row_0"])  # the stored batch was left alone
    np.testing.assert_array_equal(after["vectors"][2], direct_vector(config, 2, [2, 3]))  # the killed batch
