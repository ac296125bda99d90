"""Single-image inversion into the w2w space (arXiv 2406.09413, Sec. 3.4): one photo in, one identity model out.

Only the coefficients β of the space's first m components are optimised,
starting from the mean model, so the model stays in the span of identities:

    θ(β) = ((β ⊕ β̄_rest) Vᵀ) ⊙ s + μ                   (the rest of the components at their mean)
    L(β) = E_{t, ε} ‖M ⊙ (ε - ε_θ(β)(z_t, t, c))‖² / mean(M)   the ε-loss on the image (mask M optional)

θ(β) flows into the LoRA factors of the batched layers (w2w_core/lora/batched.py)
as a differentiable function of β, so the gradient reaches only β. Several
images invert at once, each its own β, in one forward pass: each image's loss
depends on its own β alone, so inverting them together equals inverting them
one by one.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from w2w_core.base_model import BaseModel
from w2w_core.errors import InputError
from w2w_core.finetune.objective import encode_images, encode_prompt, noisy_inputs
from w2w_core.inversion.config import InversionConfig
from w2w_core.lora.batched import BatchedLora
from w2w_core.lora.layout import LoraLayout
from w2w_core.space import Space


@dataclass(frozen=True)
class InversionResult:
    coefficients: np.ndarray  # β [m] of the first m components
    vector: np.ndarray  # θ [d]: the identity model, in the space's layout
    final_loss: float
    seconds: float


@dataclass(frozen=True)
class SpaceBasis:
    """What θ(β) needs of the space, as tensors made once on the UNet's device (not at every step)."""

    leading: torch.Tensor  # V[:, :m] [d, m]
    rest: torch.Tensor  # [d]: the other components at their training mean, β̄_rest V_restᵀ
    std: torch.Tensor  # s [d]
    mean: torch.Tensor  # μ [d]

    @classmethod
    def of(cls, space: Space, m: int, device: torch.device | str = "cpu") -> "SpaceBasis":
        components = torch.as_tensor(space.components, dtype=torch.float32)
        rest = torch.as_tensor(space.coef_mean[m:], dtype=torch.float32) @ components[:, m:].T
        std, mean = (torch.as_tensor(a, dtype=torch.float32) for a in (space.std, space.mean))
        return cls(*(t.to(device) for t in (components[:, :m].contiguous(), rest, std, mean)))

    def model(self, beta: torch.Tensor) -> torch.Tensor:
        """θ(β) [K, d] for β [K, m], differentiably."""
        return (beta @ self.leading.T + self.rest) * self.std + self.mean


def model_of(space: Space, beta: torch.Tensor, m: int) -> torch.Tensor:
    """θ(β) [K, d] for β [K, m], differentiably: the other components at their training mean."""
    return SpaceBasis.of(space, m, beta.device).model(beta)


def set_factors(lora: BatchedLora, theta: torch.Tensor, layout: LoraLayout) -> None:
    """Point the batched layers' factors at θ's slices (a view: gradients flow back to β)."""
    offset, k = 0, theta.shape[0]
    for key, shape in zip(layout.keys, layout.shapes):
        size = int(np.prod(shape))
        factor = theta[:, offset:offset + size].reshape(k, *shape)
        (lora.a if ".lora_A." in key else lora.b)[key.rsplit(".lora_", 1)[0]] = factor
        offset += size


def check_masks(masks: Sequence[np.ndarray | None], images: np.ndarray) -> list[np.ndarray | None]:
    """Binary masks the size of their image (or None), as float arrays."""
    checked = []
    for i, mask in enumerate(masks):
        if mask is None:
            checked.append(None)
            continue
        mask = np.asarray(mask)
        if mask.shape[:2] != images.shape[1:3]:
            raise InputError(f"mask {i} is {mask.shape[1]}x{mask.shape[0]}, its image {images.shape[2]}x{images.shape[1]}: "
                             "give a mask of the image's size")
        if not np.isin(np.unique(mask), (0, 1, 255, True, False)).all():
            raise InputError(f"mask {i} is not binary: use black (ignored) and white (kept) only")
        if not mask.any():
            raise InputError(f"mask {i} keeps no pixel")
        checked.append((mask > 0).astype(np.float32))
    return checked


def _latent_masks(masks: list[np.ndarray | None], size: int) -> torch.Tensor:
    """[K, 1, size, size] in [0, 1]: each mask area-averaged down to the latent grid (ones without a mask)."""
    out = []
    for mask in masks:
        if mask is None:
            out.append(torch.ones(1, size, size))
        else:
            out.append(F.adaptive_avg_pool2d(torch.from_numpy(mask)[None, None], size)[0])
    return torch.stack(out)


def invert(base: BaseModel, space: Space, layout: LoraLayout, images: np.ndarray,
           config: InversionConfig = InversionConfig(), masks: Sequence[np.ndarray | None] | None = None,
           progress: bool = True) -> list[InversionResult]:
    """One model per image (uint8 [K, H, W, 3]), by the masked ε-loss on β of the first m components."""
    started = time.time()
    m = min(space.k, 10_000) if config.m is None else config.m
    if m > space.k:
        raise InputError(f"m={m} components, but the space has {space.k}: lower m, or fit a space with k >= {m}")
    if layout.n_params != space.n_params:
        raise InputError(f"the space has {space.n_params} weights per model, the layout {layout.n_params}")
    k = len(images)
    masks = check_masks(list(masks) if masks is not None else [None] * k, images)
    pipe = base.pipe
    latents = encode_images(pipe, images)
    weight = _latent_masks(masks, latents.shape[-1])
    text = encode_prompt(pipe, config.prompt, k * config.samples_per_step)
    pipe.unet.requires_grad_(False)
    beta = torch.tensor(np.tile(space.coef_mean[:m], (k, 1)), dtype=torch.float32, requires_grad=True)
    optimizer = torch.optim.Adam([beta], lr=config.learning_rate)
    generators = [torch.Generator().manual_seed(config.seed) for _ in range(k)]
    dummy = {key: torch.zeros(shape) for key, shape in zip(layout.keys, layout.shapes)}
    lora = BatchedLora(pipe.unet, layout, dummy, k)
    n = config.samples_per_step
    lora.segments = [(i, i * n, (i + 1) * n) for i in range(k)]
    basis = SpaceBasis.of(space, m)
    losses: list[np.ndarray] = []
    try:
        for _ in tqdm(range(config.steps), desc=f"invert x{k}", disable=not progress, leave=False):
            draws = [noisy_inputs(pipe, latents[i:i + 1].expand(n, -1, -1, -1), generators[i]) for i in range(k)]
            noisy, t, noise = (torch.cat(parts) for parts in zip(*draws))
            set_factors(lora, basis.model(beta), layout)
            error = (pipe.unet(noisy, t, text).sample - noise) ** 2 * weight.repeat_interleave(n, 0)
            per_image = error.flatten(1).mean(1).view(k, n).mean(1) / weight.flatten(1).mean(1)
            optimizer.zero_grad()
            per_image.sum().backward()
            optimizer.step()
            _clamp(beta, space, m, config.clamp)
            losses.append(per_image.detach().numpy())
    finally:
        lora.remove()
    vectors = basis.model(beta.detach()).numpy()
    tail = np.mean(losses[-max(1, len(losses) // 10):], axis=0)
    seconds = (time.time() - started) / k
    return [InversionResult(beta[i].detach().numpy().astype(np.float64), vectors[i], float(tail[i]), seconds)
            for i in range(k)]


@torch.no_grad()
def _clamp(beta: torch.Tensor, space: Space, m: int, clamp: float | None) -> None:
    if clamp is None:
        return
    mean = torch.as_tensor(space.coef_mean[:m], dtype=torch.float32)
    spread = clamp * torch.as_tensor(space.coef_std[:m], dtype=torch.float32)
    beta.copy_(torch.maximum(torch.minimum(beta, mean + spread), mean - spread))
