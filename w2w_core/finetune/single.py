"""The `single` trainer: one identity per run, its images through the peft adapter on the UNet.

Each identity starts from the shared init, draws images, noise and timesteps
from a generator seeded with `config.seed`, and leaves the pipeline as it was.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from w2w_core.base_model import BaseModel
from w2w_core.errors import TrainingDivergedError, W2WError
from w2w_core.finetune.config import FinetuneConfig, FinetuneResult
from w2w_core.finetune.objective import class_latents, diffusion_loss, encode_images, encode_prompt, noisy_inputs
from w2w_core.lora.adapter import ADAPTER, attach_lora, lora_state_dict
from w2w_core.lora.layout import LoraLayout
from w2w_core.lora.vectors import flatten


def train(base: BaseModel, image_sets: Sequence[np.ndarray], config: FinetuneConfig, progress: bool = True,
          on_step: Callable[[int, int], None] | None = None) -> list[FinetuneResult | W2WError]:
    """Each identity's result in turn; an identity whose images or run fail gets its error instead."""
    outcomes: list[FinetuneResult | W2WError] = []
    total = config.steps * len(image_sets)
    for k, images in enumerate(image_sets):
        step_of_all = None if on_step is None else (lambda done, _, k=k: on_step(k * config.steps + done, total))
        try:
            outcomes.append(train_one(base, images, config, progress, step_of_all))
        except W2WError as error:
            outcomes.append(error)
    return outcomes


def train_one(base: BaseModel, images: np.ndarray, config: FinetuneConfig, progress: bool = True,
              on_step: Callable[[int, int], None] | None = None) -> FinetuneResult:
    """Train one identity's rank-1 LoRA from the shared init; the pipeline is left as it was."""
    started = time.time()
    pipe = base.pipe
    latents = encode_images(pipe, images)
    prior = (class_latents(pipe, config.class_prompt, config.n_class_images, config.seed)
             if config.prior_weight > 0 else None)
    pipe.unet.requires_grad_(False)
    layout = attach_lora(pipe.unet, config.lora, base.model_id, base.model_hash)
    try:
        vector, losses = _train(base, latents, prior, layout, config, progress, on_step)
    finally:
        pipe.unet.delete_adapters(ADAPTER)
    tail = losses[-max(1, len(losses) // 10) :]
    return FinetuneResult(vector, layout, float(np.mean(tail)), config.steps, time.time() - started)


def _train(base: BaseModel, latents: torch.Tensor, prior: torch.Tensor | None, layout: LoraLayout,
           config: FinetuneConfig, progress: bool,
           on_step: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, list[float]]:
    pipe = base.pipe
    generator = torch.Generator().manual_seed(config.seed)
    params = [p for name, p in pipe.unet.named_parameters() if ".lora_" in name]
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, eps=config.adam_eps,
                                  weight_decay=0.0)
    batch = min(config.images_per_step, len(latents))
    instance_text = encode_prompt(pipe, config.instance_prompt, batch)
    class_text = encode_prompt(pipe, config.class_prompt, batch) if prior is not None else None
    losses: list[float] = []
    bar = tqdm(range(config.steps), desc="finetune", disable=not progress, leave=False)
    for _ in bar:
        index = torch.randperm(len(latents), generator=generator)[:batch]
        if prior is None:
            loss = diffusion_loss(pipe, latents[index], instance_text, generator)
        else:
            loss = _loss_with_prior(pipe, latents[index], prior, instance_text, class_text, config.prior_weight,
                                    generator)
        if not torch.isfinite(loss):
            raise TrainingDivergedError(
                f"fine-tune loss became {loss.item()} at step {len(losses)}; lower learning_rate "
                f"(now {config.learning_rate}) and check the images. Nothing was kept."
            )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
        if on_step is not None:
            on_step(len(losses), config.steps)
    return flatten(lora_state_dict(pipe.unet), layout), losses


def _loss_with_prior(pipe, latents: torch.Tensor, prior: torch.Tensor, instance_text: torch.Tensor,
                     class_text: torch.Tensor, prior_weight: float, generator: torch.Generator) -> torch.Tensor:
    """Dreambooth's loss: ε-MSE on the identity's images + prior_weight x the same on class images,
    both in one UNet pass (as diffusers' Dreambooth script batches them)."""
    noisy, t, noise = noisy_inputs(pipe, latents, generator)
    prior_index = torch.randperm(len(prior), generator=generator)[: len(latents)]
    p_noisy, p_t, p_noise = noisy_inputs(pipe, prior[prior_index], generator)
    text = torch.cat([instance_text[: len(latents)], class_text[: len(prior_index)]])
    prediction = pipe.unet(torch.cat([noisy, p_noisy]), torch.cat([t, p_t]), text).sample
    n = len(latents)
    return F.mse_loss(prediction[:n], noise) + prior_weight * F.mse_loss(prediction[n:], p_noise)
