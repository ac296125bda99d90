"""Train the embedded tiny diffusion model on the procedural world.

One command retrains it: `python -m w2w_core.base_training` (or `w2w base train`).
Two stages, as Stable Diffusion itself was built: an autoencoder that maps
32x32 renders to 8x8x4 latents, then a text-conditioned UNet (with its text
encoder) trained with the epsilon-prediction DDPM loss on those latents.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, StableDiffusionPipeline
from tqdm import tqdm

from w2w_core import world
from w2w_core.base_model import DEFAULT_MODEL_DIR, TinyModelConfig, build_tiny_pipeline
from w2w_core.images import to_tensor


@dataclass(frozen=True)
class BaseTrainConfig:
    seed: int = 0  # every random choice below derives from it
    n_identities: int = 3000  # training identities (world.train_seeds)
    images_per_identity: int = 8  # renders per identity, with nuisance variation
    vae_steps: int = 2500  # autoencoder optimisation steps
    vae_batch: int = 32
    vae_lr: float = 2e-3
    vae_kl_weight: float = 1e-6  # tiny KL term, as SD's VAE, keeps latents well scaled
    unet_steps: int = 8000  # diffusion optimisation steps (at 4000 the loss was still falling)
    unet_batch: int = 32
    unet_lr: float = 1e-3
    min_snr_gamma: float = 5.0  # Min-SNR loss weighting (Hang et al. 2023): ~3x faster convergence
    p_full_prompt: float = 0.7  # prompt lists every attribute
    p_class_prompt: float = 0.1  # prompt is world.CLASS_PROMPT (Dreambooth's prior prompt)
    p_empty_prompt: float = 0.1  # prompt is "" (for classifier-free guidance)
    # the rest: a random subset of attribute phrases
    threads: int = 2
    model: TinyModelConfig = field(default_factory=TinyModelConfig)


def warmup_cosine(optimizer: torch.optim.Optimizer, steps: int,
                  warmup: float = 0.05) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over the first 5% of steps, then cosine decay to zero."""
    n_warmup = max(1, int(warmup * steps))

    def factor(step: int) -> float:
        if step < n_warmup:
            return (step + 1) / n_warmup
        return 0.5 * (1 + np.cos(np.pi * min(1.0, (step - n_warmup) / max(1, steps - n_warmup))))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def render_training_set(config: BaseTrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Images [N,32,32,3] uint8 and attribute rows [N,A] bool for the training identities."""
    images, attributes = [], []
    for seed in world.train_seeds(config.n_identities):
        identity = world.make_identity(seed)
        images.append(world.render_identity(identity, config.images_per_identity, config.model.image_size))
        attributes.append(np.repeat(world.attribute_vector(identity)[None], config.images_per_identity, 0))
    return np.concatenate(images), np.concatenate(attributes)


def train_vae(vae, images: np.ndarray, config: BaseTrainConfig) -> float:
    """Fit the autoencoder by reconstruction (MSE) plus a tiny KL term; returns final MSE."""
    rng = np.random.default_rng(config.seed)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=config.vae_lr)
    schedule = warmup_cosine(optimizer, config.vae_steps)
    vae.train()
    bar = tqdm(range(config.vae_steps), desc="vae")
    for _ in bar:
        batch = to_tensor(images[rng.integers(0, len(images), config.vae_batch)])
        posterior = vae.encode(batch).latent_dist
        reconstruction = vae.decode(posterior.sample()).sample
        mse = F.mse_loss(reconstruction, batch)
        loss = mse + config.vae_kl_weight * posterior.kl().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        bar.set_postfix(mse=f"{mse.item():.4f}")
    vae.eval()
    return float(mse.detach())


@torch.no_grad()
def reconstruction_mse(vae, images: np.ndarray) -> float:
    pixels = to_tensor(images)
    return float(F.mse_loss(vae.decode(vae.encode(pixels).latent_dist.mean).sample, pixels))


@torch.no_grad()
def encode_latents(vae, images: np.ndarray, batch: int = 256) -> torch.Tensor:
    """Posterior means of all images, unscaled."""
    parts = [vae.encode(to_tensor(images[i : i + batch])).latent_dist.mean for i in range(0, len(images), batch)]
    return torch.cat(parts)


def training_prompt(attributes: np.ndarray, rng: np.random.Generator, config: BaseTrainConfig) -> str:
    """A prompt for one training image: full, partial, class-only or empty (for CFG)."""
    u = rng.random()
    named = dict(zip(world.ATTRIBUTES, map(bool, attributes)))
    if u < config.p_full_prompt:
        return world.prompt_for(named)
    u -= config.p_full_prompt
    if u < config.p_class_prompt:
        return world.CLASS_PROMPT
    u -= config.p_class_prompt
    if u < config.p_empty_prompt:
        return ""
    keep = [name for name in world.ATTRIBUTES if rng.random() < 0.5]
    return world.prompt_for({name: named[name] for name in keep})


def encode_prompts(pipe: StableDiffusionPipeline, prompts: list[str]) -> torch.Tensor:
    tokens = pipe.tokenizer(
        prompts, padding="max_length", max_length=pipe.tokenizer.model_max_length, truncation=True, return_tensors="pt"
    )
    return pipe.text_encoder(tokens.input_ids)[0]


def min_snr_weights(scheduler, t: torch.Tensor, gamma: float) -> torch.Tensor:
    """min(SNR, gamma) / SNR per timestep: for epsilon prediction, damps the easy low-noise steps."""
    alphas = scheduler.alphas_cumprod[t]
    snr = alphas / (1 - alphas)
    return torch.clamp(snr, max=gamma) / snr


def train_unet(pipe: StableDiffusionPipeline, latents: torch.Tensor, attributes: np.ndarray,
               config: BaseTrainConfig) -> float:
    """Epsilon-prediction DDPM loss (Ho et al. 2020, SD's objective) on scaled latents."""
    rng = np.random.default_rng(config.seed + 1)
    params = list(pipe.unet.parameters()) + list(pipe.text_encoder.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.unet_lr, weight_decay=1e-4)
    schedule = warmup_cosine(optimizer, config.unet_steps)
    scheduler = pipe.scheduler
    pipe.unet.train()
    pipe.text_encoder.train()
    bar = tqdm(range(config.unet_steps), desc="unet")
    smoothed = None
    for _ in bar:
        index = rng.integers(0, len(latents), config.unet_batch)
        clean = latents[index]
        noise = torch.randn_like(clean)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (len(index),))
        noisy = scheduler.add_noise(clean, noise, t)
        prompts = [training_prompt(attributes[i], rng, config) for i in index]
        prediction = pipe.unet(noisy, t, encode_prompts(pipe, prompts)).sample
        per_sample = F.mse_loss(prediction, noise, reduction="none").mean(dim=(1, 2, 3))
        loss = (min_snr_weights(scheduler, t, config.min_snr_gamma) * per_sample).mean()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        smoothed = loss.item() if smoothed is None else 0.98 * smoothed + 0.02 * loss.item()
        bar.set_postfix(loss=f"{smoothed:.4f}")
    pipe.unet.eval()
    pipe.text_encoder.eval()
    return float(smoothed)


def train_base_model(config: BaseTrainConfig, out_dir: Path, vae_from: Path | None = None) -> dict:
    """Train both stages and save a diffusers folder at `out_dir`; returns training metrics.

    `vae_from` reuses the autoencoder of an earlier run (a model folder) and
    trains only the UNet and text encoder: the world's pixels change less often
    than what the prompts should mean.
    """
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    started = time.time()
    pipe = build_tiny_pipeline(config.model, world.PROMPT_WORDS, config.seed)
    images, attributes = render_training_set(config)
    if vae_from is None:
        vae_mse = train_vae(pipe.vae, images, config)
    else:
        pipe.vae = AutoencoderKL.from_pretrained(Path(vae_from) / "vae").eval()
        vae_mse = reconstruction_mse(pipe.vae, images[:512])
    latents = encode_latents(pipe.vae, images)
    scaling = float(1.0 / latents.std())
    pipe.vae.register_to_config(scaling_factor=scaling)
    unet_loss = train_unet(pipe, latents * scaling, attributes, config)
    metrics = {"vae_mse": vae_mse, "unet_loss": unet_loss, "latent_scaling": scaling, "seconds": time.time() - started}
    out_dir.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(out_dir)
    (out_dir / "training.json").write_text(json.dumps({"config": asdict(config), "metrics": metrics}, indent=2))
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--vae-steps", type=int, default=BaseTrainConfig.vae_steps)
    parser.add_argument("--unet-steps", type=int, default=BaseTrainConfig.unet_steps)
    parser.add_argument("--n-identities", type=int, default=BaseTrainConfig.n_identities)
    parser.add_argument("--vae-from", type=Path, default=None, help="reuse the VAE of this model folder")
    args = parser.parse_args()
    config = BaseTrainConfig(vae_steps=args.vae_steps, unet_steps=args.unet_steps, n_identities=args.n_identities)
    print(json.dumps(train_base_model(config, args.out, args.vae_from), indent=2))


if __name__ == "__main__":
    main()
