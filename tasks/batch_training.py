"""Train a batch of identities into the weight store: the work of one batch task, without Prefect.

Each row of the store is one identity of the embedded world (row i is
`world.train_seeds(1, start=seed_offset + i)`), fine-tuned into a rank-1 LoRA
(paper Sec. 3.1) and stored as one flattened row. A batch is the unit that
owns a row chunk, so it is the only writer of its rows and may write them one
at a time: each identity is stored the moment it is trained, and a crash loses
at most the identity in progress. Training is idempotent: rows already done
are skipped, so a rerun redoes only missing and failed identities.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from storage.weight_store import StoreSpec, WeightStore
from w2w_core import world
from w2w_core.base_model import BaseModel, load_base_model
from w2w_core.errors import InputError, LayoutMismatchError, TrainingDivergedError
from w2w_core.finetune import FinetuneConfig, finetune_identity
from w2w_core.lora import ADAPTER, LoraLayout, attach_lora

# Errors that belong to one identity (its images, its training run): the row is marked
# failed and the batch goes on. Anything else (storage down, out of memory) fails the batch.
IDENTITY_ERRORS = (TrainingDivergedError, InputError, LayoutMismatchError)


@dataclass(frozen=True)
class DatasetConfig:
    """How every identity of a weight dataset is made (one config per store)."""

    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)  # the Dreambooth-LoRA run per identity
    images_per_identity: int = 10  # world renders each identity is fine-tuned on
    base_model: str | None = None  # diffusers folder of the base model; None: the embedded tiny model
    dtype: str = "float32"  # stored weight dtype: "float32", or "float16" for half the bytes
    seed_offset: int = 0  # row i is train identity number seed_offset + i (world.train_seeds)

    def train_config(self) -> dict[str, Any]:
        """What the store records and checks on reopen: everything that decides a row's vector.

        The base model is not here: the store's layout carries its id and hash.
        """
        return {"finetune": asdict(self.finetune), "images_per_identity": self.images_per_identity,
                "seed_offset": self.seed_offset, "identities": "w2w_core.world.train_seeds"}

    @property
    def config_hash(self) -> str:
        """Stable hash of `train_config()`, stored with every row it trained."""
        text = json.dumps(self.train_config(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def with_learning_rate(self, learning_rate: float) -> "DatasetConfig":
        return replace(self, finetune=replace(self.finetune, learning_rate=float(learning_rate)))


@dataclass(frozen=True)
class BatchReport:
    """What one batch did: rows trained now, rows already done, rows that failed (with reasons)."""

    trained: tuple[int, ...]
    skipped: tuple[int, ...]
    failed: Mapping[int, str]
    seconds: float


# ---- the base model, loaded once per process ------------------------------------------------

@dataclass(frozen=True)
class SharedBase:
    """A loaded base model and the lock that serialises fine-tunes on it (they share its UNet)."""

    model: BaseModel
    lock: threading.Lock


_BASES: dict[str, SharedBase] = {}
_BASES_LOCK = threading.Lock()


def shared_base(folder: str | None) -> SharedBase:
    """The base model of `folder` (None: embedded), loaded on first use in this process."""
    key = str(Path(folder).resolve()) if folder else ""
    with _BASES_LOCK:
        if key not in _BASES:
            _BASES[key] = SharedBase(load_base_model(folder), threading.Lock())
        return _BASES[key]


def dataset_layout(config: DatasetConfig) -> LoraLayout:
    """The LoRA layout every row of the store follows (attach the adapter, read it, remove it)."""
    base = shared_base(config.base_model)
    with base.lock:
        unet = base.model.pipe.unet
        layout = attach_lora(unet, config.finetune.lora, base.model.model_id, base.model.model_hash)
        unet.delete_adapters(ADAPTER)
    return layout


# ---- the store side ---------------------------------------------------------------------------

def identity_seeds(rows: np.ndarray, seed_offset: int) -> list[int]:
    """World seeds of `rows`: train identity number seed_offset + row."""
    return [world.train_seeds(1, start=seed_offset + int(r))[0] for r in rows]


def prepare_store(store_url: str, n_identities: int, batch_size: int, config: DatasetConfig,
                  storage_options: Mapping[str, Any] | None = None) -> WeightStore:
    """Open (or create) the store, grow it to `n_identities` rows and label rows with identities.

    Runs in one place (the flow) before any batch starts: growing and labelling
    touch every chunk, which is safe only while no batch writes.
    """
    if n_identities < 1 or batch_size < 1:
        raise InputError(f"n_identities and batch_size must be positive, got {n_identities} and {batch_size}")
    spec = StoreSpec(store_url, batch_size, config.dtype, storage_options=storage_options)
    store = WeightStore.open_or_create(spec, dataset_layout(config).to_dict(), config.train_config(),
                                       world.ATTRIBUTES, n_identities)
    rows = np.arange(n_identities)
    unlabelled = rows[store.identities(rows)[0] < 0]
    if len(unlabelled):
        seeds = identity_seeds(unlabelled, config.seed_offset)
        attributes = np.stack([world.attribute_vector(world.make_identity(s)) for s in seeds])
        store.assign_identities(unlabelled, seeds, attributes)
    return store


def batches_to_train(store: WeightStore, n_identities: int) -> list[list[int]]:
    """Chunk-aligned batches of rows 0..n_identities-1 that still have rows not done."""
    status_todo = set(store.rows_to_train(range(min(n_identities, store.n_rows))))
    out = []
    for batch in store.batches():
        rows = [r for r in batch if r < n_identities]
        if any(r in status_todo for r in rows):
            out.append(rows)
    return out


# ---- training one batch -----------------------------------------------------------------------

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
        base = shared_base(config.base_model)
        store.check_layout(dataset_layout(config).to_dict())
        seeds, _ = store.identities(todo)
        for row, seed in zip(todo, seeds):
            row_config = _row_config(config, row, lr_overrides)
            reason = _train_row(store, base, row, int(seed), row_config)
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
