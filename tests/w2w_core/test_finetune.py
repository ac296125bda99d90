import numpy as np
import pytest

from w2w_core import world
from w2w_core.errors import InputError, TrainingDivergedError
from w2w_core.finetune.config import FinetuneConfig
from w2w_core.finetune.trainer import finetune_identity
from w2w_core.generate import generate_images

IMAGES = world.render_identity(world.make_identity(world.train_seeds(1)[0]), 10, 32)


def test_same_config_gives_the_same_vector(untrained_base):
    config = FinetuneConfig(steps=5)
    first = finetune_identity(untrained_base, IMAGES, config, progress=False)
    second = finetune_identity(untrained_base, IMAGES, config, progress=False)
    other_seed = finetune_identity(untrained_base, IMAGES, FinetuneConfig(steps=5, seed=1), progress=False)
    assert np.array_equal(first.vector, second.vector)
    assert not np.array_equal(first.vector, other_seed.vector)
    assert first.vector.shape == (first.layout.n_params,) and np.isfinite(first.final_loss)


def test_adam_eps_is_recorded_only_away_from_the_value_older_stores_were_trained_with():
    assert "adam_eps" not in FinetuneConfig().record()  # a store from before the field reopens unchanged
    assert FinetuneConfig(adam_eps=1e-3).record()["adam_eps"] == 1e-3
    assert FinetuneConfig(adam_eps=1e-3).record().keys() == FinetuneConfig().record().keys() | {"adam_eps"}
    with pytest.raises(InputError, match="adam_eps"):
        FinetuneConfig(adam_eps=0.0)


@pytest.mark.parametrize("trainer", ["single", "batched"])
def test_a_larger_adam_eps_damps_the_steps_of_both_trainers(untrained_base, trainer):
    start = finetune_identity(untrained_base, IMAGES, FinetuneConfig(steps=1, learning_rate=1e-12, trainer=trainer),
                              progress=False).vector
    moved = {eps: np.linalg.norm(finetune_identity(untrained_base, IMAGES, FinetuneConfig(
        steps=5, adam_eps=eps, trainer=trainer), progress=False).vector - start) for eps in (1e-8, 1e-2)}
    assert 0 < moved[1e-2] < 0.5 * moved[1e-8]


def test_pipeline_is_left_as_it_was(untrained_base):
    before = generate_images(untrained_base, world.INSTANCE_PROMPT, 1, steps=3)
    finetune_identity(untrained_base, IMAGES, FinetuneConfig(steps=3), progress=False)
    assert not getattr(untrained_base.pipe.unet, "peft_config", {})
    assert np.array_equal(generate_images(untrained_base, world.INSTANCE_PROMPT, 1, steps=3), before)


def test_prior_preservation_changes_the_result(untrained_base):
    plain = finetune_identity(untrained_base, IMAGES, FinetuneConfig(steps=4), progress=False)
    prior = finetune_identity(untrained_base, IMAGES, FinetuneConfig(steps=4, prior_weight=1.0, n_class_images=4),
                              progress=False)
    assert not np.array_equal(plain.vector, prior.vector)


def test_divergence_raises_and_leaves_no_adapter(untrained_base):
    with pytest.raises(TrainingDivergedError, match="learning_rate"):
        finetune_identity(untrained_base, IMAGES, FinetuneConfig(steps=50, learning_rate=1e20), progress=False)
    assert not getattr(untrained_base.pipe.unet, "peft_config", {})


@pytest.mark.parametrize("images", [np.zeros((0, 32, 32, 3), np.uint8), np.zeros((4, 32, 32), np.uint8)])
def test_identity_without_usable_images_is_refused(untrained_base, images):
    with pytest.raises(InputError, match="identity images"):
        finetune_identity(untrained_base, images, FinetuneConfig(steps=1), progress=False)


@pytest.mark.slow
def test_each_finetuned_lora_generates_its_own_identity():
    """The embedded model learns identities: two LoRAs, each ranked by the probe against 12 held-out identities."""
    from w2w_core.base_model import load_base_model
    from w2w_core.evaluate import identity_centroids, rank_percentile
    from w2w_core.generate import generate_with_lora
    from w2w_core.probe import embed_images, load_probe

    base, probe = load_base_model(), load_probe()
    seeds = world.heldout_seeds(12)
    renders = np.concatenate([world.render_identity(world.make_identity(s), 10, 32) for s in seeds])
    references = identity_centroids(embed_images(probe, renders), len(seeds))
    generated = {}
    for own in (0, 1):
        result = finetune_identity(base, renders[own * 10 : own * 10 + 10], FinetuneConfig(), progress=False)
        images = generate_with_lora(base, result.vector, result.layout, world.INSTANCE_PROMPT, 6, seed=1)
        generated[own] = identity_centroids(embed_images(probe, images), 1)[0]
    for own, other in ((0, 1), (1, 0)):
        assert rank_percentile(generated[own], references, own) >= 0.9
        assert generated[own] @ references[own] > generated[other] @ references[own]
