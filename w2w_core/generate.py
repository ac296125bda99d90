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
    out = base.pipe([prompt] * n, num_inference_steps=steps, guidance_scale=guidance, generator=generator, output_type="np")
    return (np.clip(out.images, 0, 1) * 255).round().astype(np.uint8)


def generate_with_lora(
    base: BaseModel, vector: np.ndarray, layout: LoraLayout, prompt: str, n: int, seed: int = 0, steps: int = 25, guidance: float = 3.0
) -> np.ndarray:
    with applied_lora(base, vector, layout):
        return generate_images(base, prompt, n, seed, steps, guidance)
