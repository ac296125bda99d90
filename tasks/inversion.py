"""Single-image inversion behind `w2w invert`: image files in, identity models (LoRA files) out.

Everything the user hands in (images, masks, m, the store's space) is checked
before the base model loads. Plain functions first, then the Prefect task.
"""
from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from prefect import task
from prefect.cache_policies import NO_CACHE

from storage.files import write_atomic
from storage.space_store import load_space
from storage.weight_store import WeightStore
from tasks.editing import check_space_fits
from tasks.models import base_model_for, save_model
from w2w_core.errors import InputError
from w2w_core.image_files import decode_image
from w2w_core.inversion.config import InversionConfig
from w2w_core.inversion.optimise import invert
from w2w_core.lora.layout import LoraLayout
from w2w_core.space import Space


CHECK_SIZE = 32  # the size images and masks are first decoded at, to check them before any model loads


def read_images(paths: Sequence[Path], size: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The images as uint8 [K, size, size, 3] and their original (width, height)."""
    if not paths:
        raise InputError("no image given: `w2w invert IMAGE...` needs at least one")
    decoded = [decode_image(str(p), _read(p, "image"), size) for p in paths]
    return np.stack([image for image, _ in decoded]), [original for _, original in decoded]


def read_mask(path: Path, original: tuple[int, int], size: int) -> np.ndarray:
    """A binary mask file (white: the pixels the loss keeps) of its image's size, at `size` x `size`."""
    try:
        with Image.open(io.BytesIO(_read(path, "mask"))) as image:
            grey = np.asarray(image.convert("L"))
    except (UnidentifiedImageError, OSError) as err:
        raise InputError(f"mask {path} is not a readable image file: {err}") from err
    if (grey.shape[1], grey.shape[0]) != original:
        raise InputError(f"mask {path} is {grey.shape[1]}x{grey.shape[0]}, its image {original[0]}x{original[1]}: "
                         "give a mask of the image's size")
    if not np.isin(np.unique(grey), (0, 255)).all():
        raise InputError(f"mask {path} is not binary: use black (ignored) and white (kept) pixels only")
    if not grey.any():
        raise InputError(f"mask {path} keeps no pixel")
    return np.asarray(Image.fromarray(grey).resize((size, size), Image.NEAREST)) > 0


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as err:
        raise InputError(f"{what} {path} does not exist") from err
    except OSError as err:
        raise InputError(f"{what} {path} could not be read: {err}") from err


def check_inversion(space: Space, config: InversionConfig) -> int:
    """The m the inversion will use, refusing one larger than the space."""
    m = space.k if config.m is None else config.m
    if m > space.k:
        raise InputError(f"m={m} components, but the space has {space.k}: lower --m, or fit a space with k >= {m}")
    return m


def invert_images(paths: Sequence[Path], store_url: str, out: Path, config: InversionConfig = InversionConfig(),
                  mask_paths: Sequence[Path | None] | None = None, format: str = "diffusers",
                  storage_options: Mapping[str, Any] | None = None, model_dir: Path | None = None,
                  progress: bool = True) -> dict[str, Any]:
    """Invert each image into the store's space; per image a LoRA file and its coefficients under `out`."""
    store = WeightStore.open(store_url, storage_options, read_only=True)
    space = load_space(store_url, storage_options)
    check_space_fits(space, store)
    check_inversion(space, config)
    layout = LoraLayout.from_dict(store.layout)
    mask_paths = list(mask_paths or [None] * len(paths))
    if len(mask_paths) != len(paths):
        raise InputError(f"{len(mask_paths)} masks for {len(paths)} images: give one --mask per image, or none")
    _, originals = read_images(paths, CHECK_SIZE)  # every image and mask is checked before the model loads
    for mask, original in zip(mask_paths, originals):
        if mask is not None:
            read_mask(mask, original, CHECK_SIZE)
    base = base_model_for(layout, model_dir)
    images, _ = read_images(paths, base.image_size)
    masks = [None if p is None else read_mask(p, o, base.image_size) for p, o in zip(mask_paths, originals)]
    results = invert(base, space, layout, images, config, masks, progress)
    summary = {}
    for path, result in zip(paths, results):
        name = Path(path).stem
        lora = save_model(result.vector, layout, out / f"{name}.safetensors", format)
        write_atomic(out / f"{name}.coefficients.json", json.dumps(
            {"m": len(result.coefficients), "coefficients": result.coefficients.tolist()}).encode())
        summary[name] = {"lora": str(lora), "final_loss": result.final_loss, "seconds": round(result.seconds, 2)}
    return summary


# ---- Prefect task ------------------------------------------------------------------------------

@task(name="invert-images", cache_policy=NO_CACHE)
def invert_images_task(paths: Sequence[str], store_url: str, out: str, config: InversionConfig = InversionConfig(),
                       mask_paths: Sequence[str | None] | None = None,
                       storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return invert_images([Path(p) for p in paths], store_url, Path(out), config,
                         None if mask_paths is None else [None if p is None else Path(p) for p in mask_paths],
                         storage_options=storage_options, progress=False)
