"""The `build-weights-dataset` flow: fan identity fine-tunes out into the weight store.

Prepare the store (create or grow it, label rows with identities), then run
one `train-identity-batch` task per batch that still has work, on a thread
here or on a Dask cluster (each batch asking for a GPU worker). Every task is
idempotent, so rerunning the flow, or retrying its run from the Prefect UI,
redoes only missing and failed identities. The run ends Failed if any
identity is still failed.
"""
from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Mapping
from typing import Any

from prefect import flow
from prefect.futures import wait
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

from flows.names import dataset_run
from storage.lease import ChunkLeases, release_held
from storage.weight_store import WeightStore
from tasks.config import DatasetConfig, FanOutConfig
from tasks.credentials import refuse_secrets_in_parameters
from tasks.dataset import dataset_summary_task, prepare_store_task
from tasks.training import train_identity_batch
from tasks.workers import end_worker_processes, init_worker
from w2w_core.errors import W2WError

GPU_RESOURCE = "GPU"  # Dask worker resource a batch asks for: start GPU workers with --resources GPU=1

_building: dict[str, Any] = {}  # the store this process is building now (url, storage_options, n): what an
                                # interrupted command says it left


class DatasetIncompleteError(W2WError, RuntimeError):
    """The build finished with identities failed or batches lost; a rerun retrains only those."""


def _task_runner(fan_out: FanOutConfig):
    """The Dask cluster at the address; else local worker processes (or, with one worker, a thread here)."""
    if fan_out.scheduler_address is not None:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=fan_out.scheduler_address)
    if fan_out.local_workers == 1:
        return ThreadPoolTaskRunner(max_workers=1)
    return ProcessPoolTaskRunner(max_workers=fan_out.local_workers, initializer=_init_worker,
                                 initargs=(fan_out.threads_per_worker, _api_url()))


def _init_worker(threads: int, api_url: str | None) -> None:
    """Start a local worker (tasks/workers.py) that, when stopped (SIGTERM from its flow, or the terminal's
    Ctrl-C), releases the batch lease it holds before it exits: a rerun takes the batch at once."""
    init_worker(threads, api_url)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _release_and_exit)


def _release_and_exit(signum: int, frame: object) -> None:
    release_held()
    os._exit(128 + signum)


def _api_url() -> str:
    """The Prefect API this flow run talks to (a temporary local one included), for the worker processes."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return str(client.api_url)


@contextlib.contextmanager
def _workers_end_on_interrupt(store_url: str, storage_options: Mapping[str, Any] | None):
    """On SIGTERM or Ctrl-C inside the block, end the local workers at once (else the pool waits for their
    batches to finish before the flow can stop), and leave none of their leases behind."""
    try:
        yield
    except BaseException as stopped:
        if not isinstance(stopped, Exception):  # the process is stopping: nothing here writes any more
            release_held()
        if end_worker_processes():
            with contextlib.suppress(Exception):
                ChunkLeases(store_url, storage_options, FanOutConfig.lease_ttl_s).clear_dead()
        raise


@contextlib.contextmanager
def _building_now(store_url: str, storage_options: Mapping[str, Any] | None, n_identities: int | None):
    """Record the store this process builds while the block runs (for `what_was_left`); kept when the
    process is being stopped (Prefect turns SIGTERM into an exception that ends the flow before the
    command's own handler runs)."""
    _building.update(url=store_url, storage_options=storage_options, n=n_identities)
    try:
        yield
    except Exception:
        _building.clear()
        raise
    _building.clear()


def what_was_left() -> str:
    """One line for a command stopped while it built a store: what is stored and pending there, read from the
    store once its workers are ended; their leases left behind (a worker killed) are cleared first."""
    if not _building:
        return "interrupted; rerun to continue"
    url, options, n = _building["url"], _building["storage_options"], _building["n"]
    try:
        ChunkLeases(url, options, FanOutConfig.lease_ttl_s).clear_dead()
        store = WeightStore.open(url, options, read_only=True)
    except W2WError:
        return f"interrupted before anything was stored in {url}; rerun to continue"
    counts = store.counts(range(min(n or store.n_rows, store.n_rows)))
    left = f"{counts['pending'] + max(0, (n or 0) - store.n_rows)} pending"
    failed = f", {counts['failed']} failed" if counts["failed"] else ""
    return f"interrupted: {counts['done']} identities stored, {left}{failed} in {url}; rerun to continue"


def _resources(fan_out: FanOutConfig):
    """Dask annotation that sends each batch to a worker with a free GPU (none on threads)."""
    if fan_out.scheduler_address is None or fan_out.gpus_per_batch <= 0:
        return contextlib.nullcontext()
    import dask

    return dask.annotate(resources={GPU_RESOURCE: fan_out.gpus_per_batch})


@flow(name="build-weights-dataset", flow_run_name=dataset_run)
def build_weights_dataset(store_url: str, n_identities: int | None = None, config: DatasetConfig = DatasetConfig(),
                          fan_out: FanOutConfig = FanOutConfig(),
                          storage_options: Mapping[str, Any] | None = None,
                          lr_overrides: dict[int, float] | None = None) -> dict[str, Any]:
    """Train identities 0..n_identities-1 into the store at `store_url` (config.batch_size rows per task).

    n_identities: None trains every identity of `config.manifest` (the embedded world needs a number).

    storage_options: leave None to take S3 credentials from the AWS_* environment (Prefect
    records flow parameters, so secrets passed here would be stored with the run).
    lr_overrides: row -> learning rate for this run only (retrain diverged rows gentler).
    """
    refuse_secrets_in_parameters(storage_options)
    with _building_now(store_url, storage_options, n_identities):
        n_identities, todo = prepare_store_task(store_url, n_identities, config, storage_options)
        _building.update(n=n_identities)
        batch_task = train_identity_batch.with_options(retries=fan_out.retries,
                                                       retry_delay_seconds=fan_out.retry_delay_s)
        with (_task_runner(fan_out) as runner, _resources(fan_out),
              _workers_end_on_interrupt(store_url, storage_options)):
            futures = [runner.submit(batch_task, {"store_url": store_url, "rows": rows, "config": config,
                                                  "storage_options": storage_options, "lr_overrides": lr_overrides,
                                                  "lease_ttl_s": fan_out.lease_ttl_s})
                       for rows in todo]
            wait(futures)
            states = [f.state for f in futures]
    reports = [s.result() for s in states if s.is_completed()]
    summary = dataset_summary_task(store_url, n_identities, [r for rep in reports for r in rep.trained],
                                   storage_options)
    summary.update(batches_run=len(todo), seconds_training=round(sum(rep.seconds for rep in reports), 3))
    lost = sum(not s.is_completed() for s in states)
    if lost or summary["failed"]:
        raise DatasetIncompleteError(
            f"{lost} of {len(todo)} batch(es) failed; the store at {summary['store']} has "
            f"{summary['done']} done, {summary['failed']} failed, {summary['pending']} pending. "
            "See `w2w dataset status` for the reasons, fix them, and rerun this flow (or retry "
            "the run in the Prefect UI): only failed and missing identities are retrained.")
    return summary
