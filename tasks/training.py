"""Train one batch of identities into the weight store: the work of one batch task.

Each row is one identity, fine-tuned into a rank-1 LoRA (paper Sec. 3.1) and
stored as one flattened row. A batch is the unit that owns a row chunk, so it
is the only writer of its rows and may write them one at a time: each identity
is stored the moment it is trained, and a crash loses at most the identity in
progress. Training is idempotent: rows already done are skipped, so a rerun
redoes only missing and failed identities. Plain functions first, then the
Prefect task (one task run per batch, not per identity: Prefect's API slows
down past a few thousand task runs per flow).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext
from prefect.runtime import task_run

from storage.weight_store import WeightStore
from tasks.config import DatasetConfig, FanOutConfig
from tasks.dataset import dataset_layout
from w2w_core import world
from w2w_core.base_model import SharedBase, shared_base_model
from w2w_core.errors import InputError, LayoutMismatchError, TrainingDivergedError, W2WError
from w2w_core.finetune.trainer import finetune_identity

# Errors that belong to one identity (its images, its training run): the row is marked
# failed and the batch goes on. Anything else (storage down, out of memory) fails the batch.
IDENTITY_ERRORS = (TrainingDivergedError, InputError, LayoutMismatchError)


@dataclass(frozen=True)
class BatchReport:
    """What one batch did: rows trained now, rows already done, rows that failed (with reasons)."""

    trained: tuple[int, ...]
    skipped: tuple[int, ...]
    failed: Mapping[int, str]
    seconds: float


def train_batch(store_url: str, rows: list[int], config: DatasetConfig,
                storage_options: Mapping[str, Any] | None = None,
                lr_overrides: Mapping[int, float] | None = None,
                log: Callable[[str], None] = print) -> BatchReport:
    """Fine-tune the rows of one batch that are not done, storing each as soon as it is trained.

    `rows` must lie in one row chunk (one batch of `WeightStore.batches()`): this
    call is then their only writer. `lr_overrides` (row -> learning rate) retrains
    chosen rows with another step size; their config hash records it.
    """
    started = time.perf_counter()
    store = WeightStore.open(store_url, storage_options)
    todo = store.rows_to_train(rows)
    skipped = tuple(sorted(set(rows) - set(todo)))
    trained, failed = [], {}
    if todo:
        base = shared_base_model(config.base_model)
        store.check_layout(dataset_layout(config).to_dict())
        seeds, _ = store.identities(todo)
        for row, seed in zip(todo, seeds):
            reason = _train_row(store, base, row, int(seed), _row_config(config, row, lr_overrides))
            if reason is None:
                trained.append(row)
            else:
                failed[row] = reason
                log(f"row {row} (identity seed {seed}) failed: {reason}")
    return BatchReport(tuple(trained), skipped, failed, time.perf_counter() - started)


def _row_config(config: DatasetConfig, row: int, lr_overrides: Mapping[int, float] | None) -> DatasetConfig:
    overrides = {int(k): v for k, v in (lr_overrides or {}).items()}
    return config.with_learning_rate(overrides[row]) if row in overrides else config


def _train_row(store: WeightStore, base: SharedBase, row: int, seed: int, config: DatasetConfig) -> str | None:
    """Train and store one row; the failure reason if the identity failed (the row is then failed)."""
    if seed < 0:
        raise InputError(f"row {row} of {store!r} has no identity assigned: run the build flow, "
                         "which labels rows before training them")
    try:
        images = world.render_identity(world.make_identity(seed), config.images_per_identity,
                                       base.model.image_size)
        with base.lock:
            result = finetune_identity(base.model, images, config.finetune, progress=False)
    except IDENTITY_ERRORS as err:
        reason = f"{type(err).__name__}: {err}"
        store.mark_failed([row], reason)
        return reason
    store.write_rows([row], result.vector[None], [result.final_loss], [config.finetune.seed],
                     config.config_hash)
    return None


# ---- Prefect task ---------------------------------------------------------------------------------

class BatchFailedError(W2WError, RuntimeError):
    """Some identities of a batch failed; their rows are marked failed with the reason."""


def _batch_run_name() -> str:
    rows = task_run.parameters["rows"]
    return f"rows-{rows[0]}-{rows[-1]}" if rows else "rows-none"


@task(name="train-identity-batch", task_run_name=_batch_run_name, cache_policy=NO_CACHE,
      retries=FanOutConfig.retries, retry_delay_seconds=FanOutConfig.retry_delay_s)
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
                          storage_options: Mapping[str, Any] | None, log: Callable[[str], None]) -> None:
    """Best effort: mark the batch's rows that are not done as failed with `err` (the store may be down)."""
    reason = f"batch failed: {type(err).__name__}: {err}"
    try:
        WeightStore.open(store_url, storage_options).mark_failed(rows, reason)
    except Exception as mark_err:  # noqa: BLE001 - the store may be what failed
        log(f"could not record the failure on rows {rows[0]}..{rows[-1]}: {mark_err}")
