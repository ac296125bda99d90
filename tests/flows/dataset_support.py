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
from w2w_core.finetune.trainer import finetune_identity

REPO = Path(__file__).resolve().parents[2]
STEPS = 3  # fine-tune steps in tests: enough to move every LoRA factor off its init


def dataset_config(model_dir: Path, steps: int = STEPS, batch_size: int = 2, **kwargs) -> DatasetConfig:
    return DatasetConfig(finetune=FinetuneConfig(steps=steps), base_model=str(model_dir),
                         images_per_identity=kwargs.pop("images_per_identity", 4), batch_size=batch_size, **kwargs)


def build(url: str, n_identities: int, batch_size: int, config: DatasetConfig, storage_options=None,
          lr_overrides=None, return_state: bool = False, retries: int = 0, retry_delay_s: float = 0.0,
          **fan_out):
    """The build flow with `batch_size` identities per batch; tests retry only where they say so."""
    from flows.dataset import build_weights_dataset

    return build_weights_dataset(url, n_identities, replace(config, batch_size=batch_size),
                                 FanOutConfig(retries=retries, retry_delay_s=retry_delay_s, **fan_out),
                                 storage_options, lr_overrides, return_state=return_state)


def direct_vector(config: DatasetConfig, row: int) -> np.ndarray:
    """Row `row` trained by calling the trainer directly, outside Prefect and the store."""
    base = load_base_model(config.base_model)
    seed = identity_seeds(np.array([row]), config.seed_offset)[0]
    images = world.render_identity(world.make_identity(seed), config.images_per_identity, base.image_size)
    return finetune_identity(base, images, config.finetune, progress=False).vector


def store_rows(url: str, storage_options=None) -> dict[str, np.ndarray]:
    """Everything the tests compare about a store's rows, read fresh."""
    store = WeightStore.open(url, storage_options, read_only=True)
    rows = range(store.n_rows)
    seeds, attributes = store.identities(rows)
    group = zarr.open_group(url, mode="r", storage_options=resolve_storage_options(url, storage_options))
    return {"status": store.status(), "vectors": store.read_rows(rows), "seeds": seeds,
            "attributes": attributes, "final_loss": group["final_loss"][:],
            "config_hash": group["config_hash"][:], "verify_bad": np.array(store.verify().bad_rows)}
