"""Dreambooth-LoRA: teach the base model one identity through a rank-1 adapter.

Dreambooth (Ruiz et al. 2023) binds an identity to a rare token with the
instance prompt "a photo of sks person"; weights2weights trains only a LoRA
(paper Sec. 3.1) from a shared init, so each identity is one vector theta.
The loss is SD's epsilon-prediction objective on the identity's latents, plus
optionally the prior-preservation term on class images the base model made.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import StableDiffusionPipeline
from tqdm import tqdm

from w2w_core.base_model import BaseModel
from w2w_core.errors import InputError, TrainingDivergedError
from w2w_core.images import check_images, resize_images, to_tensor
from w2w_core.lora import ADAPTER, LoraLayout, LoraSpec, attach_lora, flatten, lora_state_dict
from w2w_core.world import CLASS_PROMPT, INSTANCE_PROMPT


@dataclass(frozen=True)
class FinetuneConfig:
    steps: int = 200  # optimisation steps (measured: 200 keep identity fidelity, ~19 s on 2 CPU cores)
    learning_rate: float = 1e-2  # rank-1 factors of a tiny model take a large step size
    batch_size: int = 10  # images per step (an identity's images are reused every step)
    instance_prompt: str = INSTANCE_PROMPT  # binds the identity to the rare token "sks"
    class_prompt: str = CLASS_PROMPT  # prompt of the prior-preservation images
    prior_weight: float = 0.0  # weight of the prior-preservation loss; 0 turns it off
    n_class_images: int = 10  # class images the base model generates for prior preservation
    seed: int = 0  # noise, timesteps and class images
    lora: LoraSpec = field(default_factory=LoraSpec)


@dataclass(frozen=True)
class FinetuneResult:
    vector: np.ndarray  # theta, flattened in layout order
    layout: LoraLayout
    final_loss: float  # mean loss over the last 10% of steps
    steps: int
    seconds: float


def encode_prompt(pipe: StableDiffusionPipeline, prompt: str, n: int) -> torch.Tensor:
    tokens = pipe.tokenizer(
        [prompt], padding="max_length", max_length=pipe.tokenizer.model_max_length, truncation=True, return_tensors="pt"
    )
    with torch.no_grad():
        return pipe.text_encoder(tokens.input_ids)[0].expand(n, -1, -1)


@torch.no_grad()
def encode_images(pipe: StableDiffusionPipeline, images: np.ndarray) -> torch.Tensor:
    """Scaled latent means: the identity's images as the UNet sees them."""
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    pixels = to_tensor(resize_images(check_images(images, "identity images"), size))
    return pipe.vae.encode(pixels).latent_dist.mean * pipe.vae.config.scaling_factor


def class_latents(pipe: StableDiffusionPipeline, config: FinetuneConfig) -> torch.Tensor:
    """Prior-preservation images from the base model, as latents (adapter not yet attached)."""
    generator = torch.Generator().manual_seed(config.seed + 7919)
    out = pipe([config.class_prompt] * config.n_class_images, num_inference_steps=20, generator=generator, output_type="latent")
    return out.images


def diffusion_loss(pipe, latents, text, generator) -> torch.Tensor:
    """Epsilon-prediction MSE at random timesteps (DDPM / SD objective)."""
    noise = torch.randn(latents.shape, generator=generator)
    t = torch.randint(0, pipe.scheduler.config.num_train_timesteps, (len(latents),), generator=generator)
    noisy = pipe.scheduler.add_noise(latents, noise, t)
    return F.mse_loss(pipe.unet(noisy, t, text).sample, noise)


def finetune_identity(base: BaseModel, images: np.ndarray, config: FinetuneConfig, progress: bool = True) -> FinetuneResult:
    """Train one identity's rank-1 LoRA from the shared init; the pipeline is left as it was."""
    started = time.time()
    pipe = base.pipe
    if config.steps < 1 or config.batch_size < 1:
        raise InputError(f"steps and batch_size must be positive, got {config.steps} and {config.batch_size}")
    latents = encode_images(pipe, images)
    prior = class_latents(pipe, config) if config.prior_weight > 0 else None
    pipe.unet.requires_grad_(False)
    layout = attach_lora(pipe.unet, config.lora, base.model_id, base.model_hash)
    try:
        vector, losses = _train(pipe, latents, prior, layout, config, progress)
    finally:
        pipe.unet.delete_adapters(ADAPTER)
    tail = losses[-max(1, len(losses) // 10) :]
    return FinetuneResult(vector, layout, float(np.mean(tail)), config.steps, time.time() - started)


def _train(pipe, latents, prior, layout: LoraLayout, config: FinetuneConfig, progress: bool) -> tuple[np.ndarray, list[float]]:
    generator = torch.Generator().manual_seed(config.seed)
    params = [p for name, p in pipe.unet.named_parameters() if ".lora_" in name]
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
    batch = min(config.batch_size, len(latents))
    instance_text = encode_prompt(pipe, config.instance_prompt, batch)
    class_text = encode_prompt(pipe, config.class_prompt, batch) if prior is not None else None
    losses = []
    bar = tqdm(range(config.steps), desc="finetune", disable=not progress, leave=False)
    for _ in bar:
        index = torch.randperm(len(latents), generator=generator)[:batch]
        loss = diffusion_loss(pipe, latents[index], instance_text, generator)
        if prior is not None:
            prior_index = torch.randperm(len(prior), generator=generator)[:batch]
            loss = loss + config.prior_weight * diffusion_loss(pipe, prior[prior_index], class_text[: len(prior_index)], generator)
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
    return flatten(lora_state_dict(pipe.unet), layout), losses

