"""What `w2w edit`, `invert`, `finetune`, `generate` and `report` are handed, checked before anything heavy loads.

Loading torch, diffusers, Prefect and the base model takes 10-20 s on a laptop;
a typo in a path, an unknown attribute or a bad number should not wait for
them. Everything here reads only the store's small arrays, file headers and
image files (NumPy, Zarr, PIL, safetensors' header), and nothing here imports
torch, diffusers or Prefect (tests/tasks/test_inputs.py holds it to that).
What a check reads is returned, so the command does not read it twice.
"""
from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from storage.boundary import redact_url
from storage.directions_store import load_directions
from storage.identity_files import IMAGE_SUFFIXES
from storage.space_store import load_space
from storage.weight_store import WeightStore
from tasks.models import base_model_folder, check_model
from w2w_core.base_model_folder import check_model_folder
from w2w_core.directions import Directions, check_strengths
from w2w_core.errors import InputError, LayoutMismatchError
from w2w_core.image_files import decode_image, read_image_file, unreadable_image_reason
from w2w_core.inversion.config import InversionConfig
from w2w_core.lora.files import read_lora_header
from w2w_core.lora.layout import LoraLayout
from w2w_core.space import Space, check_m

CHECK_SIZE = 32  # the size images and masks are first decoded at, to check them before any model loads


@dataclass(frozen=True)
class StoreInputs:
    """A store whose space (and, for edits, directions) a command uses, read and checked."""

    store: WeightStore
    space: Space
    layout: LoraLayout
    model_folder: Path  # the base model the store's rows were trained on (or --model)
    directions: Directions | None = None


def check_store(store_url: str, storage_options: Mapping[str, Any] | None = None, model_dir: Path | None = None,
                with_directions: bool = False) -> StoreInputs:
    """The store, its space (fit on this store's layout) and, if asked, its directions; the base model folder."""
    store = WeightStore.open(store_url, storage_options, read_only=True)
    space = load_space(store_url, storage_options)
    check_space_fits(space, store)
    directions = load_directions(store_url, storage_options) if with_directions else None
    layout = LoraLayout.from_dict(store.layout)
    return StoreInputs(store, space, layout, base_model_folder(layout, model_dir), directions)


def check_space_fits(space: Space, store: WeightStore) -> None:
    """The space must have been fit on rows of this store's layout."""
    if space.n_params != store.n_params:
        raise LayoutMismatchError(f"the space has {space.n_params} weights per model, the store at {store.url} "
                                  f"{store.n_params}: it was fit on another layout; refit it (`w2w space fit`)")


# ---- edit ----------------------------------------------------------------------------------------

def parse_edits(pairs: Sequence[str]) -> dict[str, float]:
    """['beard=1.0', 'young=-0.5'] -> {'beard': 1.0, 'young': -0.5}; one clear error for a bad pair."""
    edits: dict[str, float] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InputError(f"an edit is ATTRIBUTE=STRENGTH (e.g. beard=1.0), got {pair!r}")
        edits[name.strip()] = value.strip()  # type: ignore[assignment] - checked just below
    return check_strengths(edits)


def parse_sweep(text: str | None) -> tuple[str, list[float]] | None:
    """'smiling=-1,0,1' -> ('smiling', [-1, 0, 1])."""
    if not text:
        return None
    name, sep, values = text.partition("=")
    if not sep or not values:
        raise InputError(f"a sweep is ATTRIBUTE=S1,S2,... (e.g. smiling=-1,0,1), got {text!r}")
    strengths = check_strengths({f"{name}[{i}]": v for i, v in enumerate(values.split(","))})
    return name.strip(), list(strengths.values())


def check_edit(model: str, store_url: str, edits: Mapping[str, float], sweep: tuple[str, list[float]] | None,
               storage_options: Mapping[str, Any] | None = None, model_dir: Path | None = None) -> StoreInputs:
    """Everything `w2w edit` reads before it loads a model: something to edit, the store, its space and
    directions, an attribute each edit names, and MODEL (a LoRA file's header, a .npy, a row)."""
    if not edits and sweep is None:
        raise InputError("nothing to edit: give --add ATTRIBUTE=STRENGTH (repeatable) or --sweep ATTRIBUTE=S1,S2,...")
    inputs = check_store(store_url, storage_options, model_dir, with_directions=True)
    for name in list(edits) + ([sweep[0]] if sweep else []):
        inputs.directions.index(name)  # an unknown attribute fails here
    check_model(model, inputs.store)
    return inputs


# ---- invert --------------------------------------------------------------------------------------

def read_images(paths: Sequence[Path], size: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The images as uint8 [K, size, size, 3] and their original (width, height)."""
    if not paths:
        raise InputError("no image given: `w2w invert IMAGE...` needs at least one")
    decoded = [decode_image(str(p), _read(p, "image"), size) for p in paths]
    return np.stack([image for image, _ in decoded]), [original for _, original in decoded]


def read_mask(path: Path, original: tuple[int, int], size: int) -> np.ndarray:
    """A binary mask file (white: the pixels the loss keeps) of its image's size, at `size` x `size`."""
    data = _read(path, "mask")
    try:
        with Image.open(io.BytesIO(data)) as image:
            grey = np.asarray(image.convert("L"))
    except (UnidentifiedImageError, OSError) as err:
        raise InputError(f"mask {path} is not a readable image file: {unreadable_image_reason(data, err)}") from err
    if (grey.shape[1], grey.shape[0]) != original:
        raise InputError(f"mask {path} is {grey.shape[1]}x{grey.shape[0]}, its image {original[0]}x{original[1]}: "
                         "give a mask of the image's size")
    if not np.isin(np.unique(grey), (0, 255)).all():
        raise InputError(f"mask {path} is not binary: use black (ignored) and white (kept) pixels only")
    if not grey.any():
        raise InputError(f"mask {path} keeps no pixel")
    return np.asarray(Image.fromarray(grey).resize((size, size), Image.NEAREST)) > 0


def _read(path: Path, what: str) -> bytes:
    """The file's bytes, its size checked before it is read (a padded 64 px PNG must not cost gigabytes)."""
    return read_image_file(path, what)


def check_inversion(space: Space, config: InversionConfig) -> int:
    """The m the inversion will use, refusing one larger than the space."""
    return check_m(space.k if config.m is None else config.m, space.k, "--m")


def check_invert(paths: Sequence[Path], store_url: str, config: InversionConfig,
                 mask_paths: Sequence[Path | None] | None = None, storage_options: Mapping[str, Any] | None = None,
                 model_dir: Path | None = None) -> StoreInputs:
    """Everything `w2w invert` reads before it loads a model: the images and masks (decoded small), the
    store and its space, and an m the space has."""
    masks = list(mask_paths or [None] * len(paths))
    if len(masks) != len(paths):
        raise InputError(f"{len(masks)} masks for {len(paths)} images: give one --mask per image, or none")
    _, originals = read_images(paths, CHECK_SIZE)
    for mask, original in zip(masks, originals):
        if mask is not None:
            read_mask(mask, original, CHECK_SIZE)
    inputs = check_store(store_url, storage_options, model_dir)
    check_inversion(inputs.space, config)
    return inputs


# ---- finetune and generate -----------------------------------------------------------------------

def check_output_folder(out: Path) -> None:
    """Refuse before any training if the outputs cannot be written where asked."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a folder for the LoRA files")


def image_folder_files(folder: Path) -> list[Path]:
    """Every image file directly inside `folder`, sorted by name: one identity's images."""
    if not Path(folder).is_dir():
        raise InputError(f"images folder {folder} does not exist")
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise InputError(f"images folder {folder} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    return files


def check_finetune(seeds: Sequence[int], files: Sequence[Path], folders: Sequence[Path], out: Path,
                   model: Path | None) -> None:
    """Everything `w2w finetune` reads before it loads a model: an identity to train, every image file
    (decoded small), --out, and the model folder."""
    if not seeds and not files and not folders:
        raise InputError("no identity given: pass --seed N (embedded world), --image FILE (one identity) "
                         "or --images FOLDER (one identity per folder); each may repeat")
    check_output_folder(out)
    check_model_folder(model)
    for path in [*files, *(f for folder in folders for f in image_folder_files(folder))]:
        decode_image(str(path), _read(path, "image"), CHECK_SIZE)


def check_generate(lora: Path | None, model: Path | None) -> None:
    """What `w2w generate` can refuse before it loads a model: the model folder, and a LoRA file that is a
    pickle, missing or not safetensors (its shapes need the UNet: checked once it is loaded)."""
    check_model_folder(model)
    if lora is not None:
        read_lora_header(lora)


# ---- report --------------------------------------------------------------------------------------

def check_reportable(store_url: str, heldout_url: str | None) -> None:
    """Fail before any work unless the store has done rows, a space and directions (and the held-out
    store, if given, has at least two done rows to invert)."""
    store = WeightStore.open(store_url, read_only=True)
    done = store.done_rows()
    if not len(done):
        raise InputError(f"{redact_url(store_url)} has no trained rows to show")
    if (store.identity_seeds(done[:8]) < 0).any():
        raise InputError(f"{redact_url(store_url)} holds identities from outside the embedded world: the report "
                         "renders each identity and reads images with the world's probe, so it shows world stores "
                         "only; use `w2w sample` and `w2w edit` on this one")
    load_space(store_url)
    load_directions(store_url)
    if heldout_url is not None and len(WeightStore.open(heldout_url, read_only=True).done_rows()) < 2:
        raise InputError(f"the held-out store {redact_url(heldout_url)} needs at least 2 trained rows to invert")
