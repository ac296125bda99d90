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
from collections.abc import Mapping
from typing import Any

from prefect import flow
from prefect.futures import wait
from prefect.task_runners import ThreadPoolTaskRunner

from storage import format as fmt
from storage.boundary import redact_url
from storage.weight_store import WeightStore
from tasks.batch_training import BatchReport, DatasetConfig
from tasks.dataset import BATCH_RETRIES, BATCH_RETRY_DELAY_S, prepare_store_task, train_identity_batch
from w2w_core.errors import W2WError

GPU_RESOURCE = "GPU"  # Dask worker resource a batch asks for: start GPU workers with --resources GPU=1


class DatasetIncompleteError(W2WError, RuntimeError):
    """The build finished with identities failed or batches lost; a rerun retrains only those."""


def _task_runner(scheduler_address: str | None):
    """Threads here (one at a time: fine-tunes share the model), or the Dask cluster at the address."""
    if scheduler_address is None:
        return ThreadPoolTaskRunner(max_workers=1)
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(address=scheduler_address)


def _resources(scheduler_address: str | None, gpus_per_batch: float):
    """Dask annotation that sends each batch to a worker with a free GPU (none on threads)."""
    if scheduler_address is None or gpus_per_batch <= 0:
        return contextlib.nullcontext()
    import dask

    return dask.annotate(resources={GPU_RESOURCE: gpus_per_batch})


@flow(name="build-weights-dataset")
def build_weights_dataset(store_url: str, n_identities: int, batch_size: int = 8,
                          config: DatasetConfig = DatasetConfig(),
                          storage_options: Mapping[str, Any] | None = None,
                          scheduler_address: str | None = None, gpus_per_batch: float = 1.0,
                          retries: int = BATCH_RETRIES, retry_delay_s: float = BATCH_RETRY_DELAY_S,
                          lr_overrides: dict[int, float] | None = None) -> dict[str, Any]:
    """Train identities 0..n_identities-1 into the store at `store_url` (batch_size rows per task).

    storage_options: leave None to take S3 credentials from the AWS_* environment (Prefect
    records flow parameters, so secrets passed here would be stored with the run).
    scheduler_address: a Dask scheduler (tcp://host:8786) to run batches on; None: here.
    gpus_per_batch: GPU resource each batch asks of a Dask worker (0: any worker).
    lr_overrides: row -> learning rate for this run only (retrain diverged rows gentler).
    """
    todo = prepare_store_task(store_url, n_identities, batch_size, config, storage_options)
    batch_task = train_identity_batch.with_options(retries=retries, retry_delay_seconds=retry_delay_s)
    with _task_runner(scheduler_address) as runner, _resources(scheduler_address, gpus_per_batch):
        futures = [runner.submit(batch_task, {"store_url": store_url, "rows": rows, "config": config,
                                              "storage_options": storage_options,
                                              "lr_overrides": lr_overrides})
                   for rows in todo]
        wait(futures)
        states = [f.state for f in futures]
    reports = [s.result() for s in states if s.is_completed()]
    summary = _summary(store_url, storage_options, n_identities, len(todo), reports)
    lost = sum(not s.is_completed() for s in states)
    if lost or summary["failed"]:
        raise DatasetIncompleteError(
            f"{lost} of {len(todo)} batch(es) failed; the store at {summary['store']} has "
            f"{summary['done']} done, {summary['failed']} failed, {summary['pending']} pending. "
            "See `w2w dataset status` for the reasons, fix them, and rerun this flow (or retry "
            "the run in the Prefect UI): only failed and missing identities are retrained.")
    return summary


def _summary(store_url: str, storage_options: Mapping[str, Any] | None, n_identities: int,
             n_batches: int, reports: list[BatchReport]) -> dict[str, Any]:
    store = WeightStore.open(store_url, storage_options, read_only=True)
    status = store.status(range(n_identities))
    return {
        "store": redact_url(store_url), "identities": n_identities, "batches_run": n_batches,
        "done": int((status == fmt.DONE).sum()), "failed": int((status == fmt.FAILED).sum()),
        "pending": int((status == fmt.PENDING).sum()),
        "trained_rows": sorted(r for rep in reports for r in rep.trained),
        "seconds_training": round(sum(rep.seconds for rep in reports), 3),
    }
