"""Single-image inversion behind `w2w invert`: image files in, identity models (LoRA files) out.

Everything the user hands in (images, masks, m, the store's space) is checked
before the base model loads (tasks/inputs.py). Each inverted model is written
as a LoRA file with its coefficients, and one picture shows, per input, the
image beside what its model generates (`invert.png`, like `edit.png` and
`samples.png`). Plain functions first, then the Prefect task.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from storage.files import write_atomic
from tasks.config import PicturesConfig
from tasks.inputs import CHECK_SIZE, StoreInputs, check_inversion, check_invert, read_images, read_mask  # noqa: F401 - re-exported
from tasks.models import base_model_for, model_images, save_model, write_grid
from w2w_core.inversion.config import InversionConfig
from w2w_core.inversion.optimise import invert


def invert_images(paths: Sequence[Path], store_url: str, out: Path, config: InversionConfig = InversionConfig(),
                  mask_paths: Sequence[Path | None] | None = None, format: str = "diffusers",
                  storage_options: Mapping[str, Any] | None = None, model_dir: Path | None = None,
                  progress: bool = True, pictures: PicturesConfig = PicturesConfig()) -> dict[str, Any]:
    """Invert each image into the store's space; per image a LoRA file and its coefficients under `out`,
    and invert.png: each input beside its model's images."""
    inputs = check_invert(paths, store_url, config, mask_paths, storage_options, model_dir)
    return invert_checked(paths, inputs, out, config, mask_paths, format, progress, pictures)


def invert_checked(paths: Sequence[Path], inputs: StoreInputs, out: Path, config: InversionConfig,
                   mask_paths: Sequence[Path | None] | None = None, format: str = "diffusers", progress: bool = True,
                   pictures: PicturesConfig = PicturesConfig()) -> dict[str, Any]:
    """`invert_images` once `check_invert` has read the images, masks and store."""
    base = base_model_for(inputs.layout, inputs.model_folder)
    images, originals = read_images(paths, base.image_size)
    masks = [None if p is None else read_mask(p, o, base.image_size)
             for p, o in zip(list(mask_paths or [None] * len(paths)), originals)]
    results = invert(base, inputs.space, inputs.layout, images, config, masks, progress)
    models = {}
    for path, result in zip(paths, results):
        name = Path(path).stem
        lora = save_model(result.vector, inputs.layout, out / f"{name}.safetensors", format)
        write_atomic(out / f"{name}.coefficients.json", json.dumps(
            {"m": len(result.coefficients), "coefficients": result.coefficients.tolist()}).encode())
        models[name] = {"lora": str(lora), "final_loss": result.final_loss, "seconds": round(result.seconds, 2)}
    generated = model_images(base, np.stack([r.vector for r in results]), inputs.layout, pictures)
    grid = write_inversion_grid(out / "invert.png", list(models), images, generated)
    return {"models": models, "grid": str(grid)}


def write_inversion_grid(path: Path, names: Sequence[str], inputs: np.ndarray, generated: np.ndarray) -> Path:
    """One row per input: the image inverted, then its inverted model's images (the same noise in every row)."""
    rows = [(name, np.concatenate([image[None], images])) for name, image, images in zip(names, inputs, generated)]
    captions = [["input"] + [f"generated {i + 1}" for i in range(len(generated[0]))]] * len(rows)
    return write_grid(path, rows,
                      "inverted models: each input, then what its model generates (same noise in every row)", captions)


# ---- Prefect task ------------------------------------------------------------------------------

@task(name="invert-images", cache_policy=NO_CACHE)
def invert_images_task(paths: Sequence[str], store_url: str, out: str, config: InversionConfig = InversionConfig(),
                       mask_paths: Sequence[str | None] | None = None,
                       storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return invert_images([Path(p) for p in paths], store_url, Path(out), config,
                         None if mask_paths is None else [None if p is None else Path(p) for p in mask_paths],
                         storage_options=storage_options, progress=False)
