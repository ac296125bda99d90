"""θ <-> diffusers LoRA .safetensors files, which `pipe.load_lora_weights` loads anywhere."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from safetensors import safe_open

from w2w_core.errors import InputError
from w2w_core.lora.layout import LoraLayout, check_state_dict
from w2w_core.lora.vectors import flatten, unflatten

FILE_PREFIX = "unet."  # diffusers' LoRA files name UNet tensors unet.<module>.lora_A.weight


def export_lora_file(vector: np.ndarray, layout: LoraLayout, path: str | Path) -> Path:
    """Write θ as a diffusers LoRA .safetensors that `pipe.load_lora_weights` loads.

    Written to a temporary folder and moved into place, so a crash leaves no half file.
    """
    from diffusers import StableDiffusionPipeline

    path = Path(path)
    tensors = unflatten(vector, layout)
    metadata = {"r": layout.spec.rank, "lora_alpha": layout.spec.alpha, "target_modules": list(layout.spec.target_modules)}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as folder:
        StableDiffusionPipeline.save_lora_weights(
            folder, unet_lora_layers=tensors, weight_name="lora.safetensors", unet_lora_adapter_metadata=metadata
        )
        os.replace(Path(folder, "lora.safetensors"), path)
    return path


def import_lora_file(path: str | Path, layout: LoraLayout) -> np.ndarray:
    """Read a diffusers LoRA file back into a vector, checking it against the layout."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"LoRA file {path} does not exist")
    try:
        with safe_open(path, framework="pt") as file:
            tensors = {k.removeprefix(FILE_PREFIX): file.get_tensor(k) for k in file.keys()}
    except Exception as error:  # safetensors raises its own error types for corrupt headers
        raise InputError(f"{path} is not a readable safetensors LoRA file: {error}") from error
    check_state_dict(tensors, layout, f"LoRA file {path}")
    return flatten(tensors, layout)
