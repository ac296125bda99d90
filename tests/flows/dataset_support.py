"""Shared pieces of the dataset flow tests: a tiny base model folder, a Prefect API, configs.

Import the fixtures into a test module (`from tests.flows.dataset_support import ...`).
The base model is an untrained tiny pipeline saved in the diffusers folder format:
training on it runs the same code as on the embedded model, in well under a second
per identity at a few steps.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import zarr

from storage.s3 import resolve_storage_options
from storage.weight_store import WeightStore
from tasks.batch_training import DatasetConfig, identity_seeds
from w2w_core import world
from w2w_core.base_model import TinyModelConfig, build_tiny_pipeline, load_base_model
from w2w_core.finetune import FinetuneConfig, finetune_identity

REPO = Path(__file__).resolve().parents[2]
STEPS = 3  # fine-tune steps in tests: enough to move every LoRA factor off its init


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-model") / "tiny_sd"
    build_tiny_pipeline(TinyModelConfig(), world.PROMPT_WORDS, seed=0).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def prefect_api() -> Iterator[str]:
    """A temporary Prefect server (SQLite in a temp dir) for this module; yields its API URL."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield PREFECT_API_URL.value()


def dataset_config(model_dir: Path, steps: int = STEPS, **kwargs) -> DatasetConfig:
    return DatasetConfig(finetune=FinetuneConfig(steps=steps), base_model=str(model_dir),
                         images_per_identity=kwargs.pop("images_per_identity", 4), **kwargs)


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
