"""Identity models a user names or gets: read one (a LoRA file, a θ .npy, a store row), write one, draw rows of them.

A model is named on the command line as a path to a LoRA .safetensors file
(diffusers or kohya), a theta .npy that `w2w finetune` wrote, or a row of the
store: its number or its identity id. Every model written is a LoRA file that
diffusers (or, with format kohya, A1111 and ComfyUI) loads as it is.
"""
from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from storage.files import write_atomic
from storage.weight_store import WeightStore
from tasks.config import PicturesConfig
from w2w_core.errors import InputError
from w2w_core.lora.files import check_lora_file, export_kohya_file, export_lora_file, import_lora_file, refuse_pickle
from w2w_core.lora.layout import LoraLayout, check_vector

if TYPE_CHECKING:  # torch and diffusers load only where a model is generated with: the checks need neither
    from w2w_core.base_model import BaseModel

FORMATS = {"diffusers": export_lora_file, "kohya": export_kohya_file}


def load_model(model: str, store: WeightStore) -> tuple[np.ndarray, str]:
    """(θ, a short name) of MODEL, checked against the store's layout."""
    layout = LoraLayout.from_dict(store.layout)
    path = Path(model)
    refuse_pickle(path)
    if path.suffix == ".npy":
        return _load_theta(path, layout), path.parent.name or path.stem
    if path.suffix == ".safetensors" or path.is_file():
        return import_lora_file(path, layout), path.stem
    return _store_row(model, store)


def check_model(model: str, store: WeightStore) -> str:
    """MODEL's short name, once it is known to be θ of the store's layout: what `load_model` refuses, refused
    without torch (a LoRA file from its header, a .npy or a store row read in full: they are small)."""
    path = Path(model)
    refuse_pickle(path)
    if path.suffix == ".safetensors" or (path.suffix != ".npy" and path.is_file()):
        check_lora_file(path, LoraLayout.from_dict(store.layout))
        return path.stem
    return load_model(model, store)[1]


def _load_theta(path: Path, layout: LoraLayout) -> np.ndarray:
    if not path.is_file():
        raise InputError(f"model file {path} does not exist")
    try:
        theta = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise InputError(f"{path} is not a NumPy weight vector: {err}") from err
    return check_vector(theta, layout)


def _store_row(model: str, store: WeightStore) -> tuple[np.ndarray, str]:
    """A done row of the store, by number or identity id."""
    if model.isdigit() and int(model) < store.n_rows:
        row = int(model)
    else:
        ids = store.identities(range(store.n_rows))[0]
        found = np.flatnonzero(ids == model)
        if not len(found):
            raise InputError(f"no model {model!r}: "
                             f"not a LoRA file, a .npy, a row number or an identity id of {store!r}")
        row = int(found[0])
    if store.status([row])[0] != 1:
        raise InputError(f"row {row} of {store!r} is not done: it holds no trained model")
    identity = store.identities([row])[0][0]
    return store.read_row(row).astype(np.float32), str(identity) or f"row-{row}"


def save_model(vector: np.ndarray, layout: LoraLayout, path: Path, format: str = "diffusers") -> Path:
    """θ as a LoRA file at `path` in `format` (diffusers or kohya)."""
    if format not in FORMATS:
        raise InputError(f"unknown LoRA format {format!r}: choose one of {', '.join(FORMATS)}")
    return FORMATS[format](vector, layout, path)


def base_model_for(layout: LoraLayout, folder: Path | None = None) -> BaseModel:
    """The base model a layout was trained on: `folder` if given, else the embedded model or the
    folder the layout names; a model of another hash is refused by generation."""
    from w2w_core.base_model import load_base_model

    return load_base_model(base_model_folder(layout, folder))


def base_model_folder(layout: LoraLayout, folder: Path | None = None) -> Path:
    """The folder of the base model a layout was trained on (`folder` if given), checked to be a diffusers
    model folder before anything loads it."""
    from w2w_core.base_model_folder import check_model_folder, default_folder_for

    folder = default_folder_for(layout.base_model_id) if folder is None else Path(folder)
    check_model_folder(folder)
    return folder


def model_images(base: BaseModel, vectors: np.ndarray, layout: LoraLayout, pictures: PicturesConfig,
                 delayed: tuple[np.ndarray, int] | None = None) -> np.ndarray:
    """uint8 [M, n, H, W, 3]: `pictures.images_per_model` images of each model, all from the same noise."""
    from w2w_core.generate import generate_many

    return generate_many(base, vectors, layout, pictures.prompt, pictures.images_per_model, pictures.seed,
                         pictures.steps, delayed=delayed)


def labelled_grid(rows: Sequence[tuple[str, np.ndarray]], title: str = "",
                  captions: Sequence[Sequence[str]] | None = None, scale: float = 1.1) -> bytes:
    """PNG bytes: one labelled row of images per model (and an optional caption under each image)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(len(images) for _, images in rows)
    width = scale * n + 1.6
    fig, axes = plt.subplots(len(rows), n, figsize=(width, scale * len(rows) + 0.6), squeeze=False)
    for r, (label, images) in enumerate(rows):
        for c in range(n):
            axis = axes[r][c]
            axis.set_xticks([])
            axis.set_yticks([])
            if c < len(images):
                axis.imshow(images[c], interpolation="nearest")
            if captions is not None and c < len(captions[r]) and captions[r][c]:
                axis.set_xlabel(captions[r][c], fontsize=8)
            for spine in axis.spines.values():
                spine.set_visible(False)
        axes[r][0].set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")  # 8 pt: 12 px at 110 dpi
    if title:  # wrapped to the figure's width (a 9 pt character is about 0.6 x 9 pt wide), never clipped
        fig.suptitle(textwrap.fill(title, int(width * 72 / (0.6 * 9))), fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def write_grid(path: Path, rows: Sequence[tuple[str, np.ndarray]], title: str = "",
               captions: Sequence[Sequence[str]] | None = None) -> Path:
    return write_atomic(path, labelled_grid(rows, title, captions))
