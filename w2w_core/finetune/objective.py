"""What every trainer (and the inversion) optimises: SD's ε-prediction loss on an identity's latents.

    L = E_{t, ε} ‖ε - ε_θ(√ᾱ_t z + √(1-ᾱ_t) ε, t, c)‖²      (DDPM / SD objective)

with z the VAE latents of the identity's images and c the instance prompt's
text states; Dreambooth's prior preservation adds the same loss on images the
base model made for the class prompt.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import StableDiffusionPipeline

from w2w_core.images import check_images, resize_images, to_tensor

CLASS_IMAGE_SEED_OFFSET = 7919  # class images draw from seed + this, apart from the training noise


def encode_prompt(pipe: StableDiffusionPipeline, prompt: str, n: int) -> torch.Tensor:
    """Text-encoder states [n, tokens, width] of one prompt, repeated n times."""
    tokens = pipe.tokenizer(
        [prompt], padding="max_length", max_length=pipe.tokenizer.model_max_length, truncation=True, return_tensors="pt"
    )
    with torch.no_grad():
        return pipe.text_encoder(tokens.input_ids)[0].expand(n, -1, -1)


@torch.no_grad()
def encode_images(pipe: StableDiffusionPipeline, images: np.ndarray) -> torch.Tensor:
    """Scaled latent means [N, C, h, w]: the identity's images as the UNet sees them."""
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    pixels = to_tensor(resize_images(check_images(images, "identity images"), size))
    return pipe.vae.encode(pixels).latent_dist.mean * pipe.vae.config.scaling_factor


def class_latents(pipe: StableDiffusionPipeline, prompt: str, n: int, seed: int) -> torch.Tensor:
    """Prior-preservation images from the base model, as latents (call before attaching an adapter)."""
    generator = torch.Generator().manual_seed(seed + CLASS_IMAGE_SEED_OFFSET)
    return pipe([prompt] * n, num_inference_steps=20, generator=generator, output_type="latent").images


def noisy_inputs(pipe: StableDiffusionPipeline, latents: torch.Tensor,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(noisy latents, timesteps, noise): one uniform timestep and one ε per latent, from `generator`."""
    noise = torch.randn(latents.shape, generator=generator)
    t = torch.randint(0, pipe.scheduler.config.num_train_timesteps, (len(latents),), generator=generator)
    return pipe.scheduler.add_noise(latents, noise, t), t, noise


def diffusion_loss(pipe: StableDiffusionPipeline, latents: torch.Tensor, text: torch.Tensor,
                   generator: torch.Generator) -> torch.Tensor:
    """ε-prediction MSE at random timesteps, averaged over the batch."""
    noisy, t, noise = noisy_inputs(pipe, latents, generator)
    return F.mse_loss(pipe.unet(noisy, t, text).sample, noise)
