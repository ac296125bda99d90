"""The weight dataset's bookkeeping: its identities, the store, the batches, what is done.

Row i of a store is identity i of its source: train identity number
`seed_offset + i` of the embedded world, or row i of a manifest of your own
images. Plain functions first (usable without Prefect), then the thin Prefect
tasks that call them; training a batch is tasks/training.py.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from storage import format as fmt
from storage.boundary import redact_url
from storage.identity_files import image_reader, read_manifest
from storage.run_records import fixed_target
from storage.weight_store import StoreSpec, WeightStore
from tasks.config import DatasetConfig
from w2w_core import world
from w2w_core.base_model import shared_base_model
from w2w_core.errors import InputError, StoreNotFoundError
from w2w_core.identities.manifest import ManifestSource
from w2w_core.identities.source import IdentitySource
from w2w_core.identities.world import WorldSource
from w2w_core.lora.adapter import layout_for
from w2w_core.lora.layout import LoraLayout


def identity_seeds(rows: Iterable[int], seed_offset: int) -> list[int]:
    """World seeds of `rows`: train identity number seed_offset + row."""
    return [world.train_seeds(1, start=seed_offset + int(r))[0] for r in rows]


def identity_source(config: DatasetConfig, storage_options: Mapping[str, Any] | None = None,
                    log: Callable[[str], None] = print) -> IdentitySource:
    """The dataset's identities: the embedded world, or the checked manifest at `config.manifest`."""
    if config.manifest is None:
        return WorldSource(config.seed_offset, config.images_per_identity, config.world_split)
    manifest = read_manifest(config.manifest, storage_options)
    return ManifestSource(manifest, image_reader(config.manifest, storage_options), log)


def dataset_layout(config: DatasetConfig) -> LoraLayout:
    """The LoRA layout every row of the store follows, read off the (shared) base model's UNet."""
    base = shared_base_model(config.base_model).model
    return layout_for(base.pipe.unet, config.finetune.lora, base.model_id, base.model_hash)


def prepare_store(store_url: str, n_identities: int | None, config: DatasetConfig,
                  storage_options: Mapping[str, Any] | None = None) -> tuple[WeightStore, int]:
    """Open (or create) the store, grow it to `n_identities` rows (None: all the manifest lists) and
    label rows with their identities; the store and the number of identities.

    Runs in one place (the flow) before any batch starts: growing and labelling
    touch every chunk, which is safe only while no batch writes.
    """
    source = identity_source(config, storage_options)
    n_identities = _identities_wanted(n_identities, source)
    spec = StoreSpec(store_url, config.batch_size, config.dtype, storage_options=storage_options)
    store = WeightStore.open_or_create(spec, dataset_layout(config).to_dict(), config.train_config(),
                                       source.attribute_names, n_identities)
    rows = np.arange(n_identities)
    done = store.status(rows) == fmt.DONE
    _check_done_rows_keep_their_identities(store, source, rows[done])
    todo = rows[~done]  # labelled afresh: new rows, and labels a manifest may have corrected
    if len(todo):
        records = [source.record(int(r)) for r in todo]
        store.assign_identities(todo, [r.identity_id for r in records], np.stack([r.labels for r in records]),
                                [r.world_seed for r in records])
    return store, n_identities


def _check_done_rows_keep_their_identities(store: WeightStore, source: IdentitySource, rows: np.ndarray) -> None:
    """A done row's model belongs to its identity: refuse a source that now puts another one there."""
    stored = store.identities(rows)[0]
    for row, identity in zip(rows, stored):
        if source.identity_id(int(row)) != identity:
            raise InputError(f"row {row} of {store!r} is done as identity {identity!r}, but the identities now "
                             f"put {source.identity_id(int(row))!r} there: keep the manifest's rows in order "
                             "(append new identities at its end), or build a new store")


def _identities_wanted(n_identities: int | None, source: IdentitySource) -> int:
    available = source.n_identities
    if n_identities is None:
        if available is None:
            raise InputError("say how many identities of the embedded world to train (--n)")
        return available
    if n_identities < 1:
        raise InputError(f"n_identities must be positive, got {n_identities}")
    if available is not None and n_identities > available:
        raise InputError(f"the manifest lists {available} identities; asked for {n_identities}")
    return n_identities


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


def trained_prefix(store_url: str, storage_options: Mapping[str, Any] | None = None) -> int:
    """How many leading rows are all done (0 without a store): the part of a store still being built
    (the zoo grows over several runs) that can be used as it is."""
    try:
        status = WeightStore.open(store_url, storage_options, read_only=True).status()
    except StoreNotFoundError:
        return 0
    pending = np.flatnonzero(status != fmt.DONE)
    return int(pending[0]) if len(pending) else len(status)


def run_target(store_url: str, run_id: str, add_identities: int,
               storage_options: Mapping[str, Any] | None = None) -> int:
    """The store size this flow run grows to: its size at the run's first attempt plus `add_identities`,
    fixed then (storage/run_records.py), so a retry of the run finishes its work and adds nothing more."""
    return fixed_target(store_url, run_id, store_size(store_url, storage_options) + add_identities, storage_options)


# ---- Prefect tasks ------------------------------------------------------------------------------

@task(name="prepare-store", cache_policy=NO_CACHE)
def prepare_store_task(store_url: str, n_identities: int | None, config: DatasetConfig,
                       storage_options: Mapping[str, Any] | None = None) -> tuple[int, list[list[int]]]:
    """Create or grow the store, label its rows; the number of identities and the batches with work."""
    store, n_identities = prepare_store(store_url, n_identities, config, storage_options)
    todo = batches_to_train(store, n_identities)
    get_run_logger().info(f"{store!r}: {store.counts()}; {len(todo)} batch(es) to train")
    return n_identities, todo


@task(name="summarize-dataset", cache_policy=NO_CACHE)
def dataset_summary_task(store_url: str, n_identities: int, trained_rows: Sequence[int],
                         storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return dataset_summary(store_url, n_identities, trained_rows, storage_options)


@task(name="trained-prefix", cache_policy=NO_CACHE)
def trained_prefix_task(store_url: str, storage_options: Mapping[str, Any] | None = None) -> int:
    return trained_prefix(store_url, storage_options)


@task(name="run-target", cache_policy=NO_CACHE)
def run_target_task(store_url: str, run_id: str, add_identities: int,
                    storage_options: Mapping[str, Any] | None = None) -> int:
    return run_target(store_url, run_id, add_identities, storage_options)
