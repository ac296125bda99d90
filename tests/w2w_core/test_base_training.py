import json

import numpy as np
import torch

from w2w_core import world
from w2w_core.base_model import load_base_model
from w2w_core.base_training import BaseTrainConfig, train_base_model, training_prompt

TINY = BaseTrainConfig(n_identities=8, images_per_identity=2, vae_steps=3, vae_batch=4, unet_steps=3, unet_batch=4,
                       threads=1)


def test_training_writes_a_folder_the_loader_takes(tmp_path):
    metrics = train_base_model(TINY, tmp_path / "m")
    base = load_base_model(tmp_path / "m")
    assert base.image_size == 32
    assert np.isfinite(metrics["unet_loss"]) and metrics["latent_scaling"] > 0
    saved = json.loads((tmp_path / "m/training.json").read_text())
    assert saved["config"]["seed"] == TINY.seed and saved["metrics"] == json.loads(json.dumps(metrics))
    assert base.pipe.vae.config.scaling_factor == metrics["latent_scaling"]


def test_vae_can_be_reused_from_an_earlier_run(tmp_path):
    train_base_model(TINY, tmp_path / "a")
    train_base_model(TINY, tmp_path / "b", vae_from=tmp_path / "a")
    first, second = load_base_model(tmp_path / "a").pipe.vae, load_base_model(tmp_path / "b").pipe.vae
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert np.array_equal(a.numpy(), b.numpy()), name


def test_training_prompts_mix_full_class_empty_and_partial():
    rng = np.random.default_rng(0)
    attributes = world.attribute_vector(world.make_identity(world.train_seeds(1)[0]))
    prompts = [training_prompt(attributes, rng, BaseTrainConfig()) for _ in range(2000)]
    full = world.prompt_for(dict(zip(world.ATTRIBUTES, map(bool, attributes))))
    shares = {kind: np.mean([p == value for p in prompts]) for kind, value in
              {"full": full, "class": world.CLASS_PROMPT, "empty": ""}.items()}
    assert abs(shares["full"] - 0.7) < 0.05 and abs(shares["empty"] - 0.1) < 0.03
    assert shares["class"] >= 0.08  # class prompt also arises from an empty partial subset
    assert all(p == "" or p.startswith(world.CLASS_PROMPT) for p in prompts)


def test_min_snr_weights_damp_only_low_noise_steps():
    from w2w_core.base_model import build_scheduler
    from w2w_core.base_training import min_snr_weights

    t = torch.tensor([0, 100, 500, 999])
    weights = min_snr_weights(build_scheduler(), t, gamma=5.0)
    assert weights[0] < 0.01 and weights[1] < 1.0  # almost clean latents: SNR far above gamma
    assert torch.allclose(weights[2:], torch.ones(2))  # noisy latents: SNR below gamma, full weight
