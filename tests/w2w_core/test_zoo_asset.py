"""The shipped zoo (w2w_core/assets/zoo): what it holds is what its recorded recipe trains.

The zoo grows over several `w2w zoo build` runs; these tests hold for every
stage of it: its trained rows are world train identities 0..n-1 in order,
their checksums verify, the store and zoo.json record ZooConfig's recipe, and
retraining its first batch with that recipe reproduces the stored rows.

"Reproduces" is to float16 rounding, not bit for bit: torch picks its CPU
kernels by instruction set (AVX2, AVX-512...), so the same recipe on another
processor sums in another order and lands a few float16 steps away (measured:
0.0002 of a row's norm on an AVX2 EPYC, against 1.2-1.3 between two identities
and 0.91 between two fine-tunes of one identity with another seed).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from storage import format as fmt
from storage.weight_store import WeightStore
from tasks.config import ZOO_DIR, ZooConfig
from tasks.dataset import trained_prefix
from w2w_core import world

ZOO = ZooConfig()


@pytest.fixture(scope="module")
def zoo() -> WeightStore:
    return WeightStore.open(str(ZOO_DIR), read_only=True)


def test_the_zoo_is_a_float16_store_of_the_recorded_recipe(zoo):
    assert zoo.n_rows == ZOO.n_identities and zoo.dtype == np.float16
    assert zoo.rows_per_chunk == ZOO.dataset.batch_size
    assert zoo.train_config == json.loads(json.dumps(ZOO.dataset.train_config()))
    assert json.loads((ZOO_DIR / "zoo.json").read_text())["config"]["dataset"]["dtype"] == "float16"


def test_its_trained_rows_are_world_train_identities_in_order_and_verify(zoo):
    n = trained_prefix(str(ZOO_DIR))
    assert n >= ZOO.n_identities  # the shipped zoo: all 3,000 of its identities trained
    seeds = zoo.identity_seeds(range(n))
    assert seeds.tolist() == world.train_seeds(n)
    assert (zoo.status(range(n)) == fmt.DONE).all() and zoo.verify().ok


@pytest.mark.integration
def test_retraining_its_first_batch_with_the_recipe_reproduces_the_stored_rows(zoo):
    import torch

    from w2w_core.base_model import load_base_model
    from w2w_core.finetune.trainer import finetune_identities

    rows = list(range(ZOO.dataset.batch_size))
    base = load_base_model(ZOO.dataset.base_model)
    images = [world.render_identity(world.make_identity(int(s)), ZOO.dataset.images_per_identity, base.image_size)
              for s in zoo.identity_seeds(rows)]
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as the zoo's worker processes trained it
    try:
        results = finetune_identities(base, images, ZOO.dataset.finetune, progress=False)
    finally:
        torch.set_num_threads(before)
    retrained = np.stack([r.vector for r in results]).astype(np.float32)
    stored = zoo.read_rows(rows).astype(np.float32)
    relative = np.linalg.norm(retrained - stored, axis=1) / np.linalg.norm(stored, axis=1)
    assert relative.max() < 1e-3, relative  # float16 rounding is ~3e-4; another seed or recipe is ~0.9
