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
from tasks.inputs import check_finetune, check_generate, image_folder_files
from w2w_core import world
from w2w_core.base_model import BaseModel, load_base_model
from w2w_core.errors import InputError, LayoutMismatchError, W2WError
from w2w_core.finetune.config import FinetuneConfig, FinetuneResult
from w2w_core.finetune.trainer import finetune_identities
from w2w_core.generate import generate_images
from w2w_core.images import image_grid, load_image_files
from w2w_core.lora.files import check_file_fits, export_lora_file


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


def folder_images(folder: Path, size: int) -> np.ndarray:
    """Every image file directly inside `folder`, sorted by name: one identity."""
    return load_image_files(image_folder_files(folder), size)


def identities_to_train(seeds: list[int], files: list[Path], folders: list[Path], size: int) -> dict[str, np.ndarray]:
    """name -> images of every identity asked for: world seeds, one identity of image files, image folders."""
    named = {f"seed-{s}": identity_images(s, None, size) for s in seeds}
    if files:
        named["images"] = identity_images(None, files, size)
    for folder in folders:
        named[Path(folder).name or str(folder)] = folder_images(folder, size)
    if not named:
        raise InputError("no identity given: pass --seed N (embedded world), --image FILE (one identity) "
                         "or --images FOLDER (one identity per folder); each may repeat")
    if len(named) < len(seeds) + bool(files) + len(folders):
        raise InputError("two identities would share one output folder: give each seed and folder once")
    return named


def save_finetune(result: FinetuneResult, out: Path) -> dict:
    """lora.safetensors (diffusers format), theta.npy and layout.json in `out`."""
    export_lora_file(result.vector, result.layout, out / "lora.safetensors")
    buffer = io.BytesIO()
    np.save(buffer, result.vector)
    write_atomic(out / "theta.npy", buffer.getvalue())
    write_atomic(out / "layout.json", result.layout.to_json().encode())
    return {"out": str(out), "n_params": result.layout.n_params, "final_loss": result.final_loss,
            "steps": result.steps, "seconds": round(result.seconds, 2)}


def finetune_many(seeds: list[int], files: list[Path], folders: list[Path], out: Path, model: Path | None,
                  config: FinetuneConfig) -> dict:
    """Fine-tune every identity asked for as one batch; one identity's outputs go to `out` itself,
    several to `out/<name>/` (seed-N, or the folder's name). Failed identities are listed with why."""
    check_finetune(seeds, files, folders, out, model)
    base = load_base_model(model)
    named = identities_to_train(seeds, files, folders, base.image_size)
    outcomes = finetune_identities(base, list(named.values()), config)
    summary: dict = {"identities": len(named), "failed": {}}
    for (name, _), outcome in zip(named.items(), outcomes):
        if isinstance(outcome, W2WError):
            summary["failed"][name] = f"{type(outcome).__name__}: {outcome}"
        else:
            summary[name] = save_finetune(outcome, out if len(named) == 1 else out / name)
    return summary


def generate_grid(lora: Path | None, prompt: str, out: Path, n: int, seed: int, model: Path | None) -> Path:
    """Images from the base model, with a diffusers LoRA file loaded the ordinary way if given."""
    check_generate(lora, model)
    base = load_base_model(model)
    if lora is not None:
        load_lora_file(base, lora)
    images = generate_images(base, prompt, n, seed)
    return write_png(out, image_grid(images, columns=min(n, 8)))


def load_lora_file(base: BaseModel, lora: Path) -> None:
    """Load a LoRA file into the pipeline the ordinary way, after checking it fits the UNet (so a file of
    another layout is named, with the tensor and shapes that differ, instead of failing inside diffusers)."""
    check_file_fits(lora, base.pipe.unet, base.model_id, base.model_hash)
    try:
        base.pipe.load_lora_weights(str(lora))
    except (ValueError, KeyError, RuntimeError, OSError) as error:
        raise LayoutMismatchError(f"LoRA file {lora} does not fit the model {base.model_id}: {error}") from error
