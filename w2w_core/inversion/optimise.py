"""Single-image inversion into the w2w space (arXiv 2406.09413, Sec. 3.4): one photo in, one identity model out.

Only the coefficients β of the space's first m components are optimised,
starting from the mean model, so the model stays in the span of identities:

    θ(β) = ((β ⊕ β̄_rest) Vᵀ) ⊙ s + μ                   (the rest of the components at their mean)
    L(β) = E_{t, ε} ‖M ⊙ (ε - ε_θ(β)(z_t, t, c))‖² / mean(M)   the ε-loss on the image (mask M optional)
           (+ w E ‖ε - ε_θ(β)(z'_t, t, c_class)‖² on base-model images of the class, if prior_weight w > 0)

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
from w2w_core.finetune.objective import class_latents, encode_images, encode_prompt, noisy_inputs
from w2w_core.inversion.config import InversionConfig
from w2w_core.lora.batched import BatchedLora
from w2w_core.lora.layout import LoraLayout
from w2w_core.space import Space, check_m


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
            raise InputError(f"mask {i} is {mask.shape[1]}x{mask.shape[0]}, "
                             f"its image {images.shape[2]}x{images.shape[1]}: "
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


@dataclass(frozen=True)
class _Targets:
    """What every step fits: each image's latents and mask, the prompts' text states, the prior's class latents."""

    latents: torch.Tensor  # [K, 4, h, w]
    weight: torch.Tensor  # [K, 1, h, w] latent masks
    text: torch.Tensor  # [K * per_image, tokens, width]: n instance rows (+ 1 class row) per image
    prior: torch.Tensor | None  # [n_class, 4, h, w] base-model images of the class, or None
    n: int  # instance samples per image per step


def _targets(base: BaseModel, images: np.ndarray, masks: list[np.ndarray | None], config: InversionConfig) -> _Targets:
    pipe, k, n = base.pipe, len(images), config.samples_per_step
    latents = encode_images(pipe, images)
    prior = None
    text = encode_prompt(pipe, config.prompt, n)
    if config.prior_weight > 0:
        prior = class_latents(pipe, config.class_prompt, config.n_class_images, config.seed)
        text = torch.cat([text, encode_prompt(pipe, config.class_prompt, 1)])
    return _Targets(latents, _latent_masks(masks, latents.shape[-1]), text.repeat(k, 1, 1), prior, n)


def _draw(base: BaseModel, targets: _Targets, i: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Image i's samples of one step, from its own generator: n noisings of it (+ one of a class image)."""
    noisy, t, noise = noisy_inputs(base.pipe, targets.latents[i:i + 1].expand(targets.n, -1, -1, -1), generator)
    if targets.prior is None:
        return noisy, t, noise
    pick = torch.randint(0, len(targets.prior), (1,), generator=generator)
    p_noisy, p_t, p_noise = noisy_inputs(base.pipe, targets.prior[pick], generator)
    return torch.cat([noisy, p_noisy]), torch.cat([t, p_t]), torch.cat([noise, p_noise])


def _image_losses(base: BaseModel, targets: _Targets, draws: list[tuple[torch.Tensor, ...]],
                  prior_weight: float) -> torch.Tensor:
    """[K]: each image's masked ε-loss, plus prior_weight x its class sample's loss. Each depends on its own β only."""
    noisy, t, noise = (torch.cat(parts) for parts in zip(*draws))
    k, n = len(draws), targets.n
    error = ((base.pipe.unet(noisy, t, targets.text).sample - noise) ** 2).view(k, -1, *noise.shape[1:])
    instance = (error[:, :n] * targets.weight[:, None]).flatten(1).mean(1) / targets.weight.flatten(1).mean(1)
    if targets.prior is None:
        return instance
    return instance + prior_weight * error[:, n:].flatten(1).mean(1)


def invert(base: BaseModel, space: Space, layout: LoraLayout, images: np.ndarray,
           config: InversionConfig = InversionConfig(), masks: Sequence[np.ndarray | None] | None = None,
           progress: bool = True) -> list[InversionResult]:
    """One model per image (uint8 [K, H, W, 3]), by the masked ε-loss on β of the first m components."""
    started = time.time()
    m = min(space.k, 10_000) if config.m is None else config.m
    check_m(m, space.k)
    if layout.n_params != space.n_params:
        raise InputError(f"the space has {space.n_params} weights per model, the layout {layout.n_params}")
    k = len(images)
    masks = check_masks(list(masks) if masks is not None else [None] * k, images)
    base.pipe.unet.requires_grad_(False)
    targets = _targets(base, images, masks, config)  # class images come from the base model, before any LoRA
    beta = torch.tensor(np.tile(space.coef_mean[:m], (k, 1)), dtype=torch.float32, requires_grad=True)
    optimizer = torch.optim.Adam([beta], lr=config.learning_rate)
    generators = [torch.Generator().manual_seed(config.seed) for _ in range(k)]
    zeros = {key: torch.zeros(shape) for key, shape in zip(layout.keys, layout.shapes)}
    lora = BatchedLora(base.pipe.unet, layout, zeros, k)
    per_image = len(targets.text) // k
    lora.segments = [(i, i * per_image, (i + 1) * per_image) for i in range(k)]
    basis = SpaceBasis.of(space, m)
    losses: list[np.ndarray] = []
    try:
        for _ in tqdm(range(config.steps), desc=f"invert x{k}", disable=not progress, leave=False):
            draws = [_draw(base, targets, i, generators[i]) for i in range(k)]
            set_factors(lora, basis.model(beta), layout)
            loss = _image_losses(base, targets, draws, config.prior_weight)
            optimizer.zero_grad()
            loss.sum().backward()
            optimizer.step()
            _clamp(beta, space, m, config.clamp)
            losses.append(loss.detach().numpy())
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
