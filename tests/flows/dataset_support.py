"""Shared pieces of the dataset flow tests: configs, the build flow with test settings, store reads.

The fixtures they use (`tiny_model_dir`, `prefect_api`) are in tests/conftest.py.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import zarr

from storage.s3 import resolve_storage_options
from storage.weight_store import WeightStore
from tasks.config import DatasetConfig, FanOutConfig
from tasks.dataset import identity_seeds
from w2w_core import world
from w2w_core.base_model import load_base_model
from w2w_core.finetune.config import FinetuneConfig
from w2w_core.finetune.trainer import finetune_identities

REPO = Path(__file__).resolve().parents[2]
STEPS = 3  # fine-tune steps in tests: enough to move every LoRA factor off its init


def dataset_config(model_dir: Path, steps: int = STEPS, batch_size: int = 2, **kwargs) -> DatasetConfig:
    return DatasetConfig(finetune=FinetuneConfig(steps=steps), base_model=str(model_dir),
                         images_per_identity=kwargs.pop("images_per_identity", 4), batch_size=batch_size, **kwargs)


def build(url: str, n_identities: int, batch_size: int, config: DatasetConfig, storage_options=None,
          lr_overrides=None, return_state: bool = False, retries: int = 0, retry_delay_s: float = 0.0,
          workers: int = 1, **fan_out):
    """The build flow with `batch_size` identities per batch; tests retry only where they say so, and
    run batches in this process (workers=1, with its torch threads) unless they ask for worker processes."""
    from flows.dataset import build_weights_dataset

    return build_weights_dataset(url, n_identities, replace(config, batch_size=batch_size),
                                 FanOutConfig(retries=retries, retry_delay_s=retry_delay_s, workers=workers, **fan_out),
                                 storage_options, lr_overrides, return_state=return_state)


def direct_vector(config: DatasetConfig, row: int, together: list[int] | None = None,
                  threads: int | None = None) -> np.ndarray:
    """Row `row` trained by calling the trainer directly, outside Prefect and the store, in one batch
    with the rows `together` (default: alone) and `threads` torch threads (default: this process's),
    as the flow trained it: batch-mates and thread counts change θ only by float rounding, which these
    tests do not allow."""
    import torch

    together = [row] if together is None else together
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        return _trained_together(config, row, together)
    finally:
        torch.set_num_threads(before)


def _trained_together(config: DatasetConfig, row: int, together: list[int]) -> np.ndarray:
    base = load_base_model(config.base_model)
    size = base.image_size
    images = [world.render_identity(world.make_identity(seed), config.images_per_identity, size)
              for seed in identity_seeds(together, config.seed_offset)]
    return finetune_identities(base, images, config.finetune, progress=False)[together.index(row)].vector


def store_rows(url: str, storage_options=None) -> dict[str, np.ndarray]:
    """Everything the tests compare about a store's rows, read fresh."""
    store = WeightStore.open(url, storage_options, read_only=True)
    rows = range(store.n_rows)
    ids, attributes = store.identities(rows)
    group = zarr.open_group(url, mode="r", storage_options=resolve_storage_options(url, storage_options))
    return {"status": store.status(), "vectors": store.read_rows(rows), "ids": ids,
            "seeds": store.identity_seeds(rows),
            "attributes": attributes, "final_loss": group["final_loss"][:],
            "config_hash": group["config_hash"][:], "verify_bad": np.array(store.verify().bad_rows)}
