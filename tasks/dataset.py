"""The weight dataset's bookkeeping: prepare the store, plan batches, count what is done.

Row i of a store is train identity number `seed_offset + i` of the embedded
world (`world.train_seeds`). Plain functions first (usable without Prefect),
then the thin Prefect tasks that call them; training a batch is tasks/training.py.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from storage.boundary import redact_url
from storage.weight_store import StoreSpec, WeightStore
from tasks.config import DatasetConfig
from w2w_core import world
from w2w_core.base_model import shared_base_model
from w2w_core.errors import InputError, StoreNotFoundError
from w2w_core.lora.adapter import layout_for
from w2w_core.lora.layout import LoraLayout

def identity_seeds(rows: Iterable[int], seed_offset: int) -> list[int]:
    """World seeds of `rows`: train identity number seed_offset + row."""
    return [world.train_seeds(1, start=seed_offset + int(r))[0] for r in rows]


def dataset_layout(config: DatasetConfig) -> LoraLayout:
    """The LoRA layout every row of the store follows, read off the (shared) base model's UNet."""
    base = shared_base_model(config.base_model).model
    return layout_for(base.pipe.unet, config.finetune.lora, base.model_id, base.model_hash)


def prepare_store(store_url: str, n_identities: int, config: DatasetConfig,
                  storage_options: Mapping[str, Any] | None = None) -> WeightStore:
    """Open (or create) the store, grow it to `n_identities` rows and label rows with identities.

    Runs in one place (the flow) before any batch starts: growing and labelling
    touch every chunk, which is safe only while no batch writes.
    """
    if n_identities < 1:
        raise InputError(f"n_identities must be positive, got {n_identities}")
    spec = StoreSpec(store_url, config.batch_size, config.dtype, storage_options=storage_options)
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
    todo = set(store.rows_to_train(range(min(n_identities, store.n_rows))))
    batches = ([r for r in batch if r < n_identities] for batch in store.batches())
    return [rows for rows in batches if any(r in todo for r in rows)]


def dataset_summary(store_url: str, n_identities: int, trained_rows: Sequence[int],
                    storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Counts of rows 0..n_identities-1 after a build, and which rows this build trained."""
    counts = WeightStore.open(store_url, storage_options, read_only=True).counts(range(n_identities))
    return {"store": redact_url(store_url), "identities": n_identities, "done": counts["done"],
            "failed": counts["failed"], "pending": counts["pending"], "trained_rows": sorted(trained_rows)}


def store_size(store_url: str, storage_options: Mapping[str, Any] | None = None) -> int:
    """Rows the store has now; 0 if there is no store yet."""
    try:
        return WeightStore.open(store_url, storage_options, read_only=True).n_rows
    except StoreNotFoundError:
        return 0


# ---- Prefect tasks ------------------------------------------------------------------------------

@task(name="prepare-store", cache_policy=NO_CACHE)
def prepare_store_task(store_url: str, n_identities: int, config: DatasetConfig,
                       storage_options: Mapping[str, Any] | None = None) -> list[list[int]]:
    """Create or grow the store, label its rows, and list the batches that still have work."""
    store = prepare_store(store_url, n_identities, config, storage_options)
    todo = batches_to_train(store, n_identities)
    get_run_logger().info(f"{store!r}: {store.counts()}; {len(todo)} batch(es) to train")
    return todo


@task(name="summarize-dataset", cache_policy=NO_CACHE)
def dataset_summary_task(store_url: str, n_identities: int, trained_rows: Sequence[int],
                         storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return dataset_summary(store_url, n_identities, trained_rows, storage_options)


@task(name="store-size", cache_policy=NO_CACHE)
def store_size_task(store_url: str, storage_options: Mapping[str, Any] | None = None) -> int:
    return store_size(store_url, storage_options)
