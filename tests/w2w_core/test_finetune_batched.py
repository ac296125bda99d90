"""The batched trainer: K identities in one pass give each the θ it gets alone."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from w2w_core import world
from w2w_core.errors import InputError, TrainingDivergedError
from w2w_core.finetune import batched
from w2w_core.finetune.config import FinetuneConfig
from w2w_core.finetune.objective import diffusion_loss, encode_images, encode_prompt
from w2w_core.finetune.trainer import finetune_identities, finetune_identity
from w2w_core.generate import applied_lora, generate_images
from w2w_core.lora.adapter import ADAPTER, attach_lora, layout_for
from w2w_core.lora.batched import BatchedLora
from w2w_core.lora.files import export_lora_file
from w2w_core.lora.vectors import flatten

IMAGES = [world.render_identity(world.make_identity(s), 10, 32) for s in world.train_seeds(4)]
SINGLE = FinetuneConfig(steps=20, trainer="single")
BATCHED = replace(SINGLE, trainer="batched")


def relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize("adam_eps", [FinetuneConfig.adam_eps, 1e-3])
def test_k1_equals_the_single_trainer(untrained_base, adam_eps):
    alone = finetune_identity(untrained_base, IMAGES[0], replace(SINGLE, adam_eps=adam_eps), progress=False)
    one = finetune_identity(untrained_base, IMAGES[0], replace(BATCHED, adam_eps=adam_eps), progress=False)
    assert relative(one.vector, alone.vector) <= 1e-6
    assert one.layout == alone.layout and abs(one.final_loss - alone.final_loss) < 1e-6


@pytest.mark.parametrize("prior_weight", [0.0, 1.0])
@pytest.mark.slow  # the fast tier's budget: scripts/test.sh --fast
def test_each_of_k4_identities_gets_what_it_gets_alone(untrained_base, prior_weight):
    single = replace(SINGLE, prior_weight=prior_weight, n_class_images=4)
    alone = [finetune_identity(untrained_base, images, single, progress=False).vector for images in IMAGES]
    together = finetune_identities(untrained_base, IMAGES, replace(single, trainer="batched"), progress=False)
    assert [relative(r.vector, a) for r, a in zip(together, alone)] == pytest.approx([0] * 4, abs=1e-3)
    assert len({r.vector.tobytes() for r in together}) == 4  # four identities, four models
    if prior_weight:  # the prior term is in the objective: the result differs from training without it
        plain = finetune_identity(untrained_base, IMAGES[0], SINGLE, progress=False).vector
        assert relative(together[0].vector, plain) > 1e-2


def _single_gradient(base, images, config) -> np.ndarray:
    """∂L/∂θ of the first step of the single trainer, at the shared init."""
    pipe = base.pipe
    latents = encode_images(pipe, images)
    layout = attach_lora(pipe.unet, config.lora, base.model_id, base.model_hash)
    try:
        generator = torch.Generator().manual_seed(config.seed)
        index = torch.randperm(len(latents), generator=generator)[: config.images_per_step]
        text = encode_prompt(pipe, config.instance_prompt, len(index))
        diffusion_loss(pipe, latents[index], text, generator).backward()
        state = dict(pipe.unet.named_parameters())
        grads = {k: state[k.replace(".weight", f".{ADAPTER}.weight")].grad for k in layout.keys}
        return flatten(grads, layout)
    finally:
        pipe.unet.delete_adapters(ADAPTER)


def test_step_zero_gradients_equal_the_single_trainers(untrained_base):
    config = BATCHED
    untrained_base.pipe.unet.requires_grad_(False)
    layout, init = batched.shared_init(untrained_base, config)
    lora = BatchedLora(untrained_base.pipe.unet, layout, init, len(IMAGES))
    try:
        identities = [batched._prepare(untrained_base, images, config) for images in IMAGES]
        draws = {k: batched.draw(untrained_base, i, None, config.images_per_step) for k, i in enumerate(identities)}
        texts = (encode_prompt(untrained_base.pipe, config.instance_prompt, config.images_per_step), None)
        losses = batched.identity_losses(untrained_base, lora, draws, texts, 0.0)
        torch.stack(list(losses.values())).sum().backward()
        together = lora.vectors(gradients=True)
    finally:
        lora.remove()
    for k, images in enumerate(IMAGES):
        alone = _single_gradient(untrained_base, images, config)
        np.testing.assert_allclose(together[k], alone, rtol=1e-5, atol=1e-5 * np.abs(alone).max())


@pytest.mark.slow  # the fast tier's budget: scripts/test.sh --fast
def test_an_identity_that_diverges_fails_alone_and_the_others_go_on(untrained_base, monkeypatch):
    real = batched.encode_images

    def poisoned(pipe, images):  # NaN latents for one identity: its loss is NaN from step 0
        latents = real(pipe, images)
        return latents * float("nan") if images is IMAGES[1] else latents

    monkeypatch.setattr(batched, "encode_images", poisoned)
    outcomes = finetune_identities(untrained_base, IMAGES[:3], BATCHED, progress=False)
    assert isinstance(outcomes[1], TrainingDivergedError) and "at step 0" in str(outcomes[1])
    monkeypatch.setattr(batched, "encode_images", real)
    for k in (0, 2):
        alone = finetune_identity(untrained_base, IMAGES[k], SINGLE, progress=False).vector
        assert relative(outcomes[k].vector, alone) < 1e-3


def test_unusable_images_fail_that_identity_only(untrained_base):
    outcomes = finetune_identities(untrained_base, [IMAGES[0], np.zeros((0, 32, 32, 3), np.uint8)],
                                   replace(BATCHED, steps=2), progress=False)
    assert isinstance(outcomes[1], InputError) and outcomes[0].vector.shape == (outcomes[0].layout.n_params,)


def test_the_pipeline_is_left_as_it_was(untrained_base):
    before = generate_images(untrained_base, world.INSTANCE_PROMPT, 1, steps=3)
    [result] = finetune_identities(untrained_base, IMAGES[:1], replace(BATCHED, steps=2), progress=False)
    unet = untrained_base.pipe.unet
    assert not getattr(unet, "peft_config", {}) and not any(m._forward_hooks for m in unet.modules())
    assert np.array_equal(generate_images(untrained_base, world.INSTANCE_PROMPT, 1, steps=3), before)
    assert result.layout == layout_for(unet, BATCHED.lora, untrained_base.model_id, untrained_base.model_hash)


def test_a_batched_identity_is_an_ordinary_diffusers_lora_file(untrained_base, tmp_path):
    [result] = finetune_identities(untrained_base, IMAGES[:1], replace(BATCHED, steps=3), progress=False)
    vector = result.vector * 50  # a few steps move θ little; scaled, its effect on the images is plain
    plain = generate_images(untrained_base, world.INSTANCE_PROMPT, 2, seed=1, steps=3)
    with applied_lora(untrained_base, vector, result.layout):
        in_memory = generate_images(untrained_base, world.INSTANCE_PROMPT, 2, seed=1, steps=3)
    untrained_base.pipe.load_lora_weights(str(export_lora_file(vector, result.layout, tmp_path / "l.safetensors")))
    try:
        from_file = generate_images(untrained_base, world.INSTANCE_PROMPT, 2, seed=1, steps=3)
    finally:
        untrained_base.pipe.unload_lora_weights()
    assert np.array_equal(in_memory, from_file) and not np.array_equal(in_memory, plain)


def test_the_gathered_gpu_formulation_gives_the_same_losses_and_gradients(untrained_base):
    """On a GPU the factors are gathered per sample into one batched matmul: checked here on the CPU."""
    config = BATCHED
    untrained_base.pipe.unet.requires_grad_(False)
    layout, init = batched.shared_init(untrained_base, config)
    identities = [batched._prepare(untrained_base, images, config) for images in IMAGES]
    draws = {k: batched.draw(untrained_base, i, None, config.images_per_step) for k, i in enumerate(identities)}
    texts = (encode_prompt(untrained_base.pipe, config.instance_prompt, config.images_per_step), None)
    results = []
    for gathered in (False, True):
        lora = BatchedLora(untrained_base.pipe.unet, layout, init, len(IMAGES), gathered=gathered)
        try:
            losses = batched.identity_losses(untrained_base, lora, draws, texts, 0.0)
            torch.stack(list(losses.values())).sum().backward()
            results.append((torch.stack(list(losses.values())).detach().numpy(), lora.vectors(gradients=True)))
        finally:
            lora.remove()
    (loss_a, grad_a), (loss_b, grad_b) = results
    np.testing.assert_allclose(loss_b, loss_a, rtol=1e-5)
    np.testing.assert_allclose(grad_b, grad_a, rtol=1e-4, atol=1e-5 * np.abs(grad_a).max())
