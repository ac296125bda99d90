"""Train one batch of identities into the weight store: the work of one batch task.

Each row is one identity, fine-tuned into a rank-1 LoRA (paper Sec. 3.1) and
stored as one flattened row. A batch is the unit that owns a row chunk: its
identities are trained together (the `batched` trainer: K identities per
step) and stored with one whole-chunk write per array, then status. A crash
loses at most the batch in progress; nothing is half-written. Training is
idempotent: rows already done are skipped, so a rerun redoes only missing and
failed identities. Plain functions first, then the Prefect task (one task run
per batch, not per identity: Prefect's API slows down past a few thousand task
runs per flow).
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext
from prefect.runtime import task_run

from storage.lease import ChunkLeases, Lease
from storage.progress import ProgressWriter
from storage.weight_store import WeightStore
from tasks.config import DatasetConfig, FanOutConfig
from tasks.dataset import dataset_layout, identity_source
from w2w_core.base_model import SharedBase, shared_base_model
from w2w_core.errors import InputError, StorageError, W2WError
from w2w_core.finetune.config import FinetuneResult
from w2w_core.finetune.trainer import StepCallback, finetune_identities
from w2w_core.identities.source import IdentitySource

LEASE_WAIT_S = 1800.0  # how long a duplicate of a batch waits for the writer holding it


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
                log: Callable[[str], None] = print, lease_ttl_s: float = FanOutConfig.lease_ttl_s) -> BatchReport:
    """Fine-tune the rows of one batch that are not done, together, and store them in one chunk write.

    `rows` must lie in one row chunk (one batch of `WeightStore.batches()`); the
    chunk's lease (storage/lease.py) makes this call its only writer even when the
    task is delivered twice: a duplicate waits, then finds the rows done and trains
    nothing. `lr_overrides` (row -> learning rate) retrains
    chosen rows with another step size (rows sharing a step size train together);
    their config hash records it.
    """
    started = time.perf_counter()
    store = WeightStore.open(store_url, storage_options)
    with batch_lease(store, rows, storage_options, lease_ttl_s, log) as lease, \
            _step_progress(store, rows, storage_options) as on_step:
        todo = store.rows_to_train(rows)  # read once the lease is ours: a duplicate of this task finds them done
        skipped = tuple(sorted(set(rows) - set(todo)))
        trained, failed, configs = (_train_rows(store, todo, config, storage_options, lr_overrides, log, on_step)
                                    if todo else ({}, {}, {}))
        if todo:
            lease.check()
            done = sorted(trained)
            vectors = np.stack([trained[r].vector for r in done]) if done else np.zeros((0, store.n_params))
            store.write_chunk(done, vectors,
                              [trained[r].final_loss for r in done], [configs[r].finetune.seed for r in done],
                              [configs[r].config_hash for r in done], failed)
    return BatchReport(tuple(sorted(trained)), skipped, failed, time.perf_counter() - started)


@contextlib.contextmanager
def _step_progress(store: WeightStore, rows: list[int],
                   storage_options: Mapping[str, Any] | None) -> Iterator[StepCallback]:
    """The step callback that keeps the batch's progress object in the store (storage/progress.py) for the
    watching command, wherever this batch runs; the object is removed once the block (the commit) is over."""
    writer = ProgressWriter(store.url, storage_options, rows[0] // store.rows_per_chunk, rows)
    try:
        yield writer.step
    finally:
        writer.clear()


def _train_rows(store: WeightStore, todo: list[int], config: DatasetConfig, storage_options: Mapping[str, Any] | None,
                lr_overrides: Mapping[int, float] | None, log: Callable[[str], None],
                on_step: StepCallback | None = None):
    """(trained results, failure reasons, configs) of the rows not done, trained together per config."""
    trained: dict[int, FinetuneResult] = {}
    failed: dict[int, str] = {}
    configs: dict[int, DatasetConfig] = {}
    base = shared_base_model(config.base_model)
    store.check_layout(dataset_layout(config).to_dict())
    source = identity_source(config, storage_options, log)
    _check_identities(store, source, todo)
    groups = _by_config(config, todo, lr_overrides)
    total, before = sum(len(g) * c.finetune.steps for c, g in groups.items()), 0
    for row_config, group in groups.items():
        configs.update(dict.fromkeys(group, row_config))
        group_step = None if on_step is None else (lambda done, _, before=before: on_step(before + done, total))
        before += len(group) * row_config.finetune.steps
        for row, outcome in zip(group, _train_group(base, source, group, row_config, group_step)):
            if isinstance(outcome, FinetuneResult):
                trained[row] = outcome
            else:
                failed[row] = f"{type(outcome).__name__}: {outcome}"
                log(f"row {row} (identity {source.identity_id(row)}) failed: {failed[row]}")
    return trained, failed, configs


def _by_config(config: DatasetConfig, rows: list[int],
               lr_overrides: Mapping[int, float] | None) -> dict[DatasetConfig, list[int]]:
    """Rows grouped by the config they train with (`lr_overrides` gives some rows their own step size)."""
    overrides = {int(k): v for k, v in (lr_overrides or {}).items()}
    groups: dict[DatasetConfig, list[int]] = {}
    for row in rows:
        row_config = config.with_learning_rate(overrides[row]) if row in overrides else config
        groups.setdefault(row_config, []).append(row)
    return groups


def _check_identities(store: WeightStore, source: IdentitySource, rows: list[int]) -> None:
    """The rows must be labelled, and with the identities the source has there now."""
    stored = store.identities(rows)[0]
    for row, identity in zip(rows, stored):
        if not identity:
            raise InputError(f"row {row} of {store!r} has no identity assigned: run the build flow, which "
                             "labels rows before training them")
        if identity != source.identity_id(row):
            raise InputError(f"row {row} of {store!r} is identity {identity!r}, but the identities now put "
                             f"{source.identity_id(row)!r} there: rerun the build flow to relabel the store")


def _train_group(base: SharedBase, source: IdentitySource, rows: list[int], config: DatasetConfig,
                 on_step: StepCallback | None = None) -> list[FinetuneResult | W2WError]:
    """Load each identity's images and train them together; an identity's own failure is its outcome."""
    images: dict[int, np.ndarray | W2WError] = {}
    for row in rows:
        try:
            images[row] = source.images(row, base.model.image_size)
        except InputError as error:  # missing, empty or unreadable images: that identity fails
            images[row] = error
    usable = [r for r in rows if not isinstance(images[r], W2WError)]
    with base.lock:
        outcomes = dict(zip(usable, finetune_identities(base.model, [images[r] for r in usable], config.finetune,
                                                        progress=False, on_step=on_step))) if usable else {}
    return [outcomes.get(r, images[r]) for r in rows]


class HeldLease:
    """The lease of the batch being trained; `check` before writing."""

    def __init__(self, lease: Lease, store: WeightStore, chunk: int) -> None:
        self.lease, self.store, self.chunk = lease, store, chunk

    def check(self) -> None:
        if not self.lease.current:
            raise StorageError(f"the lease on batch {self.chunk} of {self.store!r} lapsed while it trained (the "
                               "store was unreachable, or this process stalled): not writing; a retry trains it again")


@contextlib.contextmanager
def batch_lease(store: WeightStore, rows: list[int], storage_options: Mapping[str, Any] | None, ttl_s: float,
                log: Callable[[str], None], wait_s: float = LEASE_WAIT_S) -> Iterator[HeldLease]:
    """Hold the lease of the rows' chunk for the block: wait while another live writer holds it (it
    is training these rows; this task then finds them done), up to `wait_s`."""
    chunk = rows[0] // store.rows_per_chunk
    leases = ChunkLeases(store.url, storage_options, ttl_s)
    lease = leases.try_acquire(chunk)
    if lease is None:
        log(f"batch {chunk} is held by another live writer ({leases.held_by(chunk) or 'leaving now'}): waiting for it")
        lease = leases.acquire(chunk, wait_s)
    if lease is None:
        raise StorageError(f"batch {chunk} of {store!r} stayed held by another live writer for {wait_s:.0f} s; "
                           "a retry tries again")
    try:
        yield HeldLease(lease, store, chunk)
    finally:
        lease.release()


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
                         lr_overrides: Mapping[int, float] | None = None,
                         lease_ttl_s: float = FanOutConfig.lease_ttl_s) -> BatchReport:
    """Train the rows of one batch that are not done; fail (and so retry) if any identity failed.

    Each retry reruns only the rows still not done. On the last attempt, an
    error that is not an identity's own (the store unreachable, a crash in
    torch) is recorded on the rows left, so `w2w dataset status` shows why.
    """
    logger = get_run_logger()
    try:
        report = train_batch(store_url, rows, config, storage_options, lr_overrides, logger.warning, lease_ttl_s)
    except Exception as err:
        if _last_attempt():
            _record_batch_failure(store_url, rows, err, storage_options, lease_ttl_s, logger.warning)
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


def _record_batch_failure(store_url: str, rows: list[int], err: Exception, storage_options: Mapping[str, Any] | None,
                          lease_ttl_s: float, log: Callable[[str], None]) -> None:
    """Best effort: mark the batch's rows that are not done as failed with `err` (the store may be down),
    under the batch's lease: a writer still training them (this task delivered twice) is left to finish."""
    reason = f"batch failed: {type(err).__name__}: {err}"
    try:
        store = WeightStore.open(store_url, storage_options)
        lease = ChunkLeases(store_url, storage_options, lease_ttl_s).try_acquire(rows[0] // store.rows_per_chunk)
        if lease is None:
            log(f"rows {rows[0]}..{rows[-1]} are held by another writer: their failure is not recorded")
            return
        try:
            store.mark_failed(rows, reason)
        finally:
            lease.release()
    except Exception as mark_err:  # noqa: BLE001 - the store may be what failed
        log(f"could not record the failure on rows {rows[0]}..{rows[-1]}: {mark_err}")
