import json

import numpy as np
import pytest

from tests.w2w_core.sd15_layout import write_sd15_layout_folder
from w2w_core import world
from w2w_core.base_model import DEFAULT_MODEL_DIR, DEFAULT_MODEL_ID, load_base_model, load_pipeline, model_hash
from w2w_core.errors import InputError
from w2w_core.finetune.config import FinetuneConfig
from w2w_core.finetune.trainer import finetune_identity
from w2w_core.generate import generate_images
from w2w_core.lora.files import export_lora_file


def test_tiny_pipeline_saves_and_loads_through_the_same_loader(untrained_base, tmp_path):
    untrained_base.pipe.save_pretrained(tmp_path / "tiny")
    base = load_base_model(tmp_path / "tiny")
    assert base.image_size == 32 and base.model_id == str(tmp_path / "tiny")
    assert base.model_hash == model_hash(tmp_path / "tiny")
    np.testing.assert_array_equal(
        generate_images(base, world.CLASS_PROMPT, 1, seed=1, steps=3),
        generate_images(untrained_base, world.CLASS_PROMPT, 1, seed=1, steps=3),
    )


def test_model_hash_follows_the_weights(untrained_base, tmp_path):
    untrained_base.pipe.save_pretrained(tmp_path / "a")
    before = model_hash(tmp_path / "a")
    config = json.loads((tmp_path / "a/unet/config.json").read_text())
    config["norm_eps"] = 1e-6
    (tmp_path / "a/unet/config.json").write_text(json.dumps(config))
    assert model_hash(tmp_path / "a") != before


def test_not_a_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="model_index.json"):
        load_pipeline(tmp_path)
    (tmp_path / "model_index.json").write_text("{not json")
    with pytest.raises(InputError, match="could not load"):
        load_pipeline(tmp_path)


def test_embedded_model_is_shipped_and_loads():
    base = load_base_model()
    assert base.model_id == DEFAULT_MODEL_ID and (DEFAULT_MODEL_DIR / "model_index.json").is_file()
    assert base.image_size == 32
    assert "sks</w>" in base.pipe.tokenizer.tokenize(world.INSTANCE_PROMPT)


def test_stable_diffusion_15_layout_loads_finetunes_and_exports(tmp_path):
    folder = write_sd15_layout_folder(tmp_path / "sd15")
    base = load_base_model(folder)
    assert type(base.pipe.scheduler).__name__ == "PNDMScheduler"
    assert base.image_size == 64 and base.pipe.tokenizer.model_max_length == 77
    images = world.render_identity(world.make_identity(world.train_seeds(1)[0]), 2, 32)
    result = finetune_identity(base, images, FinetuneConfig(steps=2, images_per_step=2), progress=False)
    assert result.vector.shape == (result.layout.n_params,)
    assert {k.split(".")[0] for k in result.layout.keys} == {"down_blocks", "mid_block", "up_blocks"}
    path = export_lora_file(result.vector, result.layout, tmp_path / "lora.safetensors")
    base.pipe.load_lora_weights(str(path))
    assert generate_images(base, world.INSTANCE_PROMPT, 1, steps=2).shape == (1, 64, 64, 3)
