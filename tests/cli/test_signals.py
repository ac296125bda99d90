"""SIGTERM or Ctrl-C of a long command ends it and everything it started (the temporary Prefect server, worker
processes), leaves the store consistent (rows not written whole stay pending) and no batch lease behind, and
says what it left; a rerun takes up the batches at once."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from cli.processes import descendants
from storage.format import DONE, LEASES_FOLDER
from storage.lease import ChunkLeases, Lease
from storage.weight_store import WeightStore
from tasks.config import FanOutConfig
from tests.flows.dataset_support import REPO

pytestmark = pytest.mark.integration
SERVER_START_S = 180  # a Prefect server on two cores shared with other training takes over conftest's 30 s
START_S = 300  # the build's own temporary Prefect server and both workers up, on a loaded machine


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
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=str(START_S))  # room on a loaded machine
    command = [sys.executable, "-c", "from cli.main import main; main()", "dataset", "build", url, "--n", "8",
               "--batch-size", "4", "--steps", "2000", "--images", "4", "--model", str(tiny_model_dir),
               "--no-progress", "--workers", "2"]
    proc = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + START_S
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


@pytest.fixture(scope="module")
def prefect_api() -> Iterator[str]:
    """One Prefect server for this module's builds (conftest's, with room to start on a loaded machine):
    a rerun's time to training is then the build's own, not a temporary server's start."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=SERVER_START_S):
        yield PREFECT_API_URL.value()


def _build(url: str, model_dir, api_url: str, workers: int, steps: int = 20) -> subprocess.Popen:
    """`w2w dataset build` of 8 identities in batches of 2 against the test's Prefect API, output captured."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PREFECT_API_URL": api_url}
    command = [sys.executable, "-c", "from cli.main import main; main()", "dataset", "build", url, "--n", "8",
               "--batch-size", "2", "--steps", str(steps), "--images", "4", "--model", str(model_dir),
               "--no-progress", "--workers", str(workers)]
    return subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _lease_entries(url: str) -> list[Path]:
    return sorted((Path(url) / LEASES_FOLDER).glob("*/*.json"))


def _stop_while_training(proc: subprocess.Popen, url: str, sig: int) -> tuple[int, str]:
    """Send `sig` once some identities are stored and later batches are training; (exit status, stderr)."""
    deadline = time.monotonic() + 300
    while not (_done(url) >= 2 and _lease_entries(url)):
        assert proc.poll() is None and time.monotonic() < deadline, "the build never stored a batch"
        time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def _done(url: str) -> int:
    try:
        return WeightStore.open(url, read_only=True).counts()["done"]
    except Exception:  # noqa: BLE001 - not created yet, or being grown
        return 0


@pytest.mark.parametrize("sig, workers", [(signal.SIGINT, 2), (signal.SIGTERM, 1)],
                         ids=["SIGINT-worker-processes", "SIGTERM-thread-here"])
def test_a_stopped_build_releases_its_leases_and_says_what_it_left(tmp_path, tiny_model_dir, prefect_api,
                                                                   sig, workers):
    url = str(tmp_path / "w.zarr")
    status, err = _stop_while_training(_build(url, tiny_model_dir, prefect_api, workers), url, sig)
    assert status == 128 + sig
    assert _lease_entries(url) == [] and not (Path(url) / LEASES_FOLDER).exists()
    counts = WeightStore.open(url, read_only=True).counts()
    assert err.strip().splitlines()[-1] == (f"interrupted: {counts['done']} identities stored, "
                                            f"{counts['pending']} pending in {url}; rerun to continue")


def test_ctrl_c_then_rerun_restarts_training_at_once_and_loses_nothing(tmp_path, tiny_model_dir, prefect_api):
    """The issue's bar: Ctrl-C then rerun: training restarts within 10 s, nothing lost, `--verify` clean.
    Measured from the rerun's first batch task starting (Prefect's record) to its taking the batch's lease, the
    part a lease left behind would stretch to its ttl; the command's start-up before it is the same as in any build."""
    url = str(tmp_path / "w.zarr")
    status, _ = _stop_while_training(_build(url, tiny_model_dir, prefect_api, workers=2), url, signal.SIGINT)
    assert _lease_entries(url) == []
    store = WeightStore.open(url, read_only=True)
    stored = np.flatnonzero(store.status() == DONE)
    before = store.read_rows(stored)
    first_pending = int(np.flatnonzero(store.status() != DONE)[0])
    killed = _leave_a_killed_workers_lease(url, first_pending // store.rows_per_chunk)
    started, left = time.time(), set(_lease_entries(url))
    rerun = _build(url, tiny_model_dir, prefect_api, workers=2)
    leased = _first_lease_taken(rerun, url, left)
    while killed.exists():  # its batch is among the first two the rerun starts: taken over, not waited for
        assert time.time() < leased + 60, "the rerun waited for the lease of a worker that no longer exists"
        time.sleep(0.2)
    _, err = rerun.communicate(timeout=600)
    task_started = _first_batch_task_start(started)
    print(f"rerun: first batch lease {leased - started:.1f} s after the command started, "
          f"{leased - task_started:.1f} s after its first batch task started")
    assert rerun.returncode == 0, err
    assert "waiting for it" not in err and leased - task_started < 10
    store = WeightStore.open(url, read_only=True)
    assert status == 130 and 0 < len(stored) < 8 and store.counts()["done"] == 8 and store.verify().ok
    np.testing.assert_array_equal(store.read_rows(stored), before)  # the rows stored before Ctrl-C are kept


def _leave_a_killed_workers_lease(url: str, chunk: int, ttl_s: float = 600) -> Path:
    """The entry a worker SIGKILLed past its grace leaves on its batch: named by its own code, holder a process
    that has exited here. Its expiry is `ttl_s` away (the default ttl is 120 s, which a loaded machine's
    start-up can outlast), so a rerun that waited for it could not pass."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    lease = ChunkLeases(url, None, ttl_s)
    lease_entry = Lease(lease.fs, f"{lease.root}/{LEASES_FOLDER}/{chunk}", "killed-worker", ttl_s)
    lease._announce(lease_entry)  # written as this process would write it, then made the dead process's
    body = json.loads(lease.fs.cat_file(lease_entry.entry))
    body.update(pid=gone.pid)
    lease.fs.pipe_file(lease_entry.entry, json.dumps(body).encode())
    return Path(lease_entry.entry)


def _first_lease_taken(proc: subprocess.Popen, url: str, left: set[Path]) -> float:
    """When the first batch lease of `proc`'s run was taken (its entry's name holds its expiry); entries `left`
    by the interrupted run are not its."""
    deadline = time.monotonic() + 600
    while not (entries := set(_lease_entries(url)) - left):
        assert proc.poll() is None and time.monotonic() < deadline, "the rerun took no lease"
        time.sleep(0.05)
    return min(float(entry.name.split("-", 1)[0]) for entry in entries) - FanOutConfig.lease_ttl_s


def _first_batch_task_start(after: float) -> float:
    """When the first batch task that started after `after` began running, as the Prefect API recorded it."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(limit=200)
    starts = [run.start_time.timestamp() for run in runs
              if run.name.startswith("rows-") and run.start_time and run.start_time.timestamp() > after]
    assert starts, "the API has no batch task of the rerun"
    return min(starts)
