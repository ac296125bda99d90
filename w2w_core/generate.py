"""Sample images from the base model, or from the base model with one identity's LoRA applied."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from w2w_core.base_model import BaseModel
from w2w_core.errors import InputError, LayoutMismatchError
from w2w_core.lora.adapter import ADAPTER, attach_lora, load_vector
from w2w_core.lora.layout import LoraLayout


@contextmanager
def applied_lora(base: BaseModel, vector: np.ndarray, layout: LoraLayout) -> Iterator[BaseModel]:
    """The base model with theta loaded as its adapter, removed again on exit."""
    if layout.base_model_hash != base.model_hash:
        raise LayoutMismatchError(
            f"this LoRA was trained on {layout.base_model_id} (hash {layout.base_model_hash}), "
            f"not on the loaded {base.model_id} (hash {base.model_hash})"
        )
    attach_lora(base.pipe.unet, layout.spec, base.model_id, base.model_hash)
    try:
        load_vector(base.pipe.unet, vector, layout)
        yield base
    finally:
        base.pipe.unet.delete_adapters(ADAPTER)


@torch.no_grad()
def generate_images(
    base: BaseModel, prompt: str, n: int, seed: int = 0, steps: int = 25, guidance: float = 3.0
) -> np.ndarray:
    """n images for one prompt as uint8 [n,H,W,3]; seeded, so the same call gives the same pixels."""
    if n < 1:
        raise InputError(f"number of images must be at least 1, got {n}")
    generator = torch.Generator().manual_seed(seed)
    out = base.pipe([prompt] * n, num_inference_steps=steps, guidance_scale=guidance, generator=generator,
                    output_type="np")
    return (np.clip(out.images, 0, 1) * 255).round().astype(np.uint8)


def generate_with_lora(
    base: BaseModel, vector: np.ndarray, layout: LoraLayout, prompt: str, n: int, seed: int = 0, steps: int = 25,
    guidance: float = 3.0
) -> np.ndarray:
    with applied_lora(base, vector, layout):
        return generate_images(base, prompt, n, seed, steps, guidance)


MAX_SAMPLES_PER_PASS = 512  # images denoised together (x2 with guidance): bounds memory, keeps the CPU busy


def _factors(vectors: np.ndarray, layout: LoraLayout) -> dict[str, torch.Tensor]:
    """Per-model factors [M, ...] under the layout's keys, for BatchedLora."""
    from w2w_core.lora.vectors import unflatten

    per_model = [unflatten(v, layout) for v in vectors]
    return {key: torch.stack([p[key] for p in per_model]) for key in layout.keys}


@torch.no_grad()
def generate_many(base: BaseModel, vectors: np.ndarray, layout: LoraLayout, prompt: str, n: int, seed: int = 0,
                  steps: int = 25, guidance: float = 3.0, delayed: tuple[np.ndarray, int] | None = None) -> np.ndarray:
    """n images of each of M models [M, d] for one prompt, uint8 [M, n, H, W, 3], in few UNet passes.

    Every model starts from the same n noise latents (seeded), so the rows differ only by their
    weights. `delayed` = (vectors_after [M, d], T): the models `vectors` denoise while the
    timestep is above T, then `vectors_after` take over (the paper's delayed injection).
    """
    vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, layout.n_params)
    if n < 1 or not len(vectors):
        raise InputError(f"need at least one model and one image each, got {len(vectors)} models, n={n}")
    if layout.base_model_hash != base.model_hash:
        raise LayoutMismatchError(f"these models were trained on {layout.base_model_id} "
                                  f"(hash {layout.base_model_hash}), "
                                  f"not on the loaded {base.model_id} (hash {base.model_hash})")
    per_pass = max(1, MAX_SAMPLES_PER_PASS // n)
    return np.concatenate([_generate_pass(base, vectors[i:i + per_pass], layout, prompt, n, seed, steps, guidance,
                                          None if delayed is None else (delayed[0][i:i + per_pass], delayed[1]))
                           for i in range(0, len(vectors), per_pass)])


def _generate_pass(base: BaseModel, vectors: np.ndarray, layout: LoraLayout, prompt: str, n: int, seed: int,
                   steps: int, guidance: float, delayed: tuple[np.ndarray, int] | None) -> np.ndarray:
    from w2w_core.lora.batched import BatchedLora

    pipe, m = base.pipe, len(vectors)
    shape = (n, pipe.unet.config.in_channels, pipe.unet.config.sample_size, pipe.unet.config.sample_size)
    latents = torch.randn(shape, generator=torch.Generator().manual_seed(seed)).repeat(m, 1, 1, 1)
    factors = _factors(vectors, layout)
    lora = BatchedLora(pipe.unet, layout, {key: value[0] for key, value in factors.items()}, m)
    lora.load(factors)
    halves = 2 if guidance > 1 else 1  # classifier-free guidance runs the unconditional copy first
    lora.segments = [(k, h * m * n + k * n, h * m * n + (k + 1) * n) for h in range(halves) for k in range(m)]
    callback = None
    if delayed is not None:
        after, switch_t = _factors(delayed[0], layout), delayed[1]

        def callback(pipeline, i, t, kwargs):  # after step i: the next step denoises at timesteps[i + 1]
            upcoming = pipeline.scheduler.timesteps[min(i + 1, len(pipeline.scheduler.timesteps) - 1)]
            if upcoming <= switch_t:
                lora.load(after)
            return kwargs
    try:
        out = pipe([prompt] * (m * n), num_inference_steps=steps, guidance_scale=guidance, latents=latents,
                   output_type="np", callback_on_step_end=callback)
    finally:
        lora.remove()
    images = (np.clip(out.images, 0, 1) * 255).round().astype(np.uint8)
    return images.reshape(m, n, *images.shape[1:])
