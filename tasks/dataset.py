"""Prefect tasks of the weight dataset: prepare the store, train one batch of identities.

Thin wrappers around tasks/batch_training.py (usable without Prefect). One
task run per batch, not per identity: Prefect's API slows down past a few
thousand task runs per flow, and a batch is the unit that owns a row chunk.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext
from prefect.runtime import task_run

from storage.weight_store import WeightStore
from tasks.batch_training import BatchReport, DatasetConfig, batches_to_train, prepare_store, train_batch
from w2w_core.errors import W2WError

BATCH_RETRIES = 2  # default retries of a batch task; the flow sets its own
BATCH_RETRY_DELAY_S = 10.0


class BatchFailedError(W2WError, RuntimeError):
    """Some identities of a batch failed; their rows are marked failed with the reason."""


def _batch_run_name() -> str:
    rows = task_run.parameters["rows"]
    return f"rows-{rows[0]}-{rows[-1]}" if rows else "rows-none"


@task(name="prepare-store", cache_policy=NO_CACHE)
def prepare_store_task(store_url: str, n_identities: int, batch_size: int, config: DatasetConfig,
                       storage_options: Mapping[str, Any] | None = None) -> list[list[int]]:
    """Create or grow the store, label its rows, and list the batches that still have work."""
    store = prepare_store(store_url, n_identities, batch_size, config, storage_options)
    todo = batches_to_train(store, n_identities)
    get_run_logger().info(f"{store!r}: {store.counts()}; {len(todo)} batch(es) to train")
    return todo


@task(name="train-identity-batch", task_run_name=_batch_run_name, cache_policy=NO_CACHE,
      retries=BATCH_RETRIES, retry_delay_seconds=BATCH_RETRY_DELAY_S)
def train_identity_batch(store_url: str, rows: list[int], config: DatasetConfig,
                         storage_options: Mapping[str, Any] | None = None,
                         lr_overrides: Mapping[int, float] | None = None) -> BatchReport:
    """Train the rows of one batch that are not done; fail (and so retry) if any identity failed.

    Each retry reruns only the rows still not done. On the last attempt, an
    error that is not an identity's own (the store unreachable, a crash in
    torch) is recorded on the rows left, so `w2w dataset status` shows why.
    """
    logger = get_run_logger()
    try:
        report = train_batch(store_url, rows, config, storage_options, lr_overrides, logger.warning)
    except Exception as err:
        if _last_attempt():
            _record_batch_failure(store_url, rows, err, storage_options, logger.warning)
        raise
    logger.info(f"rows {rows[0]}..{rows[-1]}: trained {len(report.trained)}, already done "
                f"{len(report.skipped)}, failed {len(report.failed)} in {report.seconds:.1f} s")
    if report.failed:
        first_row, first_reason = next(iter(report.failed.items()))
        raise BatchFailedError(
            f"{len(report.failed)} of {len(rows)} identities failed (rows {sorted(report.failed)}); "
            f"row {first_row}: {first_reason.rstrip('.')}. Fix the cause and rerun the flow: it retrains only "
            "failed and missing rows.")
    return report


def _last_attempt() -> bool:
    context = TaskRunContext.get()
    return context is None or context.task_run.run_count > context.task.retries


def _record_batch_failure(store_url: str, rows: list[int], err: Exception,
                          storage_options: Mapping[str, Any] | None, log) -> None:
    """Best effort: mark the batch's rows that are not done as failed with `err` (the store may be down)."""
    reason = f"batch failed: {type(err).__name__}: {err}"
    try:
        WeightStore.open(store_url, storage_options).mark_failed(rows, reason)
    except Exception as mark_err:  # noqa: BLE001 - the store may be what failed
        log(f"could not record the failure on rows {rows[0]}..{rows[-1]}: {mark_err}")
