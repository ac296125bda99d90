"""One identity at a time, behind `w2w finetune` and `w2w generate`: train it, generate from a LoRA.

These are the edges where files are read and written; the science they call
lives in w2w_core. Every file is written whole or not at all.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from storage.files import write_atomic
from tasks.config import DatasetConfig
from w2w_core import world
from w2w_core.base_model import BaseModel, load_base_model
from w2w_core.errors import InputError, LayoutMismatchError
from w2w_core.finetune.config import FinetuneConfig, FinetuneResult
from w2w_core.finetune.trainer import finetune_identity
from w2w_core.generate import generate_images
from w2w_core.images import image_grid, load_image_files
from w2w_core.lora.files import export_lora_file


def write_png(path: Path, picture) -> Path:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return write_atomic(path, buffer.getvalue())


def identity_images(seed: int | None, files: list[Path] | None, size: int,
                    n_renders: int = DatasetConfig.images_per_identity) -> np.ndarray:
    """The images of one identity: `n_renders` world renders of `seed`, or the given image files."""
    if seed is not None and files:
        raise InputError("give either --seed or --image, not both")
    if seed is not None:
        return world.render_identity(world.make_identity(seed), n_renders, size)
    if files:
        return load_image_files(list(files), size)
    raise InputError("no identity given: pass --seed N (embedded world) or --image FILE (one or more)")


def save_finetune(result: FinetuneResult, out: Path) -> dict:
    """lora.safetensors (diffusers format), theta.npy and layout.json in `out`."""
    export_lora_file(result.vector, result.layout, out / "lora.safetensors")
    buffer = io.BytesIO()
    np.save(buffer, result.vector)
    write_atomic(out / "theta.npy", buffer.getvalue())
    write_atomic(out / "layout.json", result.layout.to_json().encode())
    return {"out": str(out), "n_params": result.layout.n_params, "final_loss": result.final_loss,
            "steps": result.steps, "seconds": round(result.seconds, 2)}


def finetune_one(seed: int | None, files: list[Path] | None, out: Path, model: Path | None,
                 config: FinetuneConfig) -> dict:
    """Fine-tune one identity and save its outputs to `out`."""
    base = load_base_model(model)
    images = identity_images(seed, files, base.image_size)
    result = finetune_identity(base, images, config)
    return save_finetune(result, out)


def generate_grid(lora: Path | None, prompt: str, out: Path, n: int, seed: int, model: Path | None) -> Path:
    """Images from the base model, with a diffusers LoRA file loaded the ordinary way if given."""
    base = load_base_model(model)
    if lora is not None:
        load_lora_file(base, lora)
    images = generate_images(base, prompt, n, seed)
    return write_png(out, image_grid(images, columns=min(n, 8)))


def load_lora_file(base: BaseModel, lora: Path) -> None:
    if not Path(lora).is_file():
        raise InputError(f"LoRA file {lora} does not exist")
    try:
        base.pipe.load_lora_weights(str(lora))
    except (ValueError, KeyError, RuntimeError, OSError) as error:
        raise LayoutMismatchError(f"LoRA file {lora} does not fit the model {base.model_id}: {error}") from error
