"""Every application on a pipeline in Stable Diffusion 1.5's layout (random weights, built from configs).

The same task functions the CLI calls: a store trained by the dataset flow on
the SD1.5-shaped folder, its space and directions, then an edit, samples and a
single-image inversion, each written as LoRA files that diffusers' own loader
applies to that pipeline. Nothing is downloaded; the folder is the one a user
passes with --model.
"""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from storage.directions_store import save_directions
from storage.space_store import save_space
from storage.weight_store import WeightStore
from tasks.config import EditConfig, PicturesConfig, SampleConfig
from tasks.directions import fit_directions_from_store
from tasks.editing import edit_model
from tasks.inversion import invert_images
from tasks.sampling import sample_models
from tasks.space import fit_space_from_store
from tests.flows.dataset_support import build, dataset_config
from tests.w2w_core.sd15_layout import write_sd15_layout_folder
from w2w_core import world
from w2w_core.base_model import load_base_model
from w2w_core.directions import DirectionsConfig
from w2w_core.generate import generate_images
from w2w_core.inversion.config import InversionConfig
from w2w_core.pca import PCAConfig

PICTURES = PicturesConfig(images_per_model=1, steps=2)


def _store_with_space_and_directions(tmp_path, folder) -> str:
    store = str(tmp_path / "store")
    build(store, 6, 3, dataset_config(folder, steps=2, images_per_identity=2))
    assert WeightStore.open(store, read_only=True).counts()["done"] == 6
    save_space(fit_space_from_store(store, PCAConfig(k=4), log=lambda _: None), store)
    save_directions(fit_directions_from_store(store, DirectionsConfig(m=4)), store)
    return store


def _loads_in_diffusers(folder, lora_file) -> None:
    base = load_base_model(folder)
    base.pipe.load_lora_weights(str(lora_file))
    assert generate_images(base, world.INSTANCE_PROMPT, 1, steps=2).shape == (1, 64, 64, 3)


@pytest.mark.slow  # the fast tier's budget: scripts/test.sh --fast
def test_edit_sample_and_invert_run_on_an_sd15_shaped_pipeline(tmp_path, prefect_api):
    folder = write_sd15_layout_folder(tmp_path / "sd15")
    store = _store_with_space_and_directions(tmp_path, folder)

    edited = edit_model("0", store, tmp_path / "edit", {"male": 1.0}, config=EditConfig(pictures=PICTURES))
    sampled = sample_models(store, tmp_path / "samples", SampleConfig(n=2, pictures=PICTURES))
    photo = tmp_path / "photo.png"
    Image.fromarray(world.render_identity(world.make_identity(world.heldout_seeds(1)[0]), 1, 48)[0]).save(photo)
    inverted = invert_images([photo], store, tmp_path / "inverted", InversionConfig(steps=2), progress=False,
                             pictures=PICTURES)

    assert all(Image.open(made["grid"]).size[0] > 0 for made in (edited, sampled, inverted))
    assert len(sampled["files"]) == 2 and {n["row"] for n in sampled["nearest"]} <= set(range(6))
    files = [*edited["files"].values(), *sampled["files"], inverted["models"]["photo"]["lora"]]
    for lora_file in files:
        _loads_in_diffusers(folder, lora_file)
    layout_keys = WeightStore.open(store, read_only=True).layout["keys"]
    assert any(k.startswith("up_blocks.3.attentions.2") for k in layout_keys)  # SD1.5's deepest up block
    assert np.isfinite(inverted["models"]["photo"]["final_loss"])
