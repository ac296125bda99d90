"""Editing identity models along attribute directions (paper Sec. 3.3): the LoRA files and the picture.

`edit_model` reads a model (a LoRA file, a θ .npy, a store row), applies the
combined edit and any strength sweep with the store's space and directions,
writes each edited model as a LoRA file and a labelled grid of what they
generate (every row from the same noise). Plain functions first, then the
Prefect task.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from storage.directions_store import load_directions
from storage.space_store import load_space
from storage.weight_store import WeightStore
from tasks.config import EditConfig
from tasks.models import base_model_for, load_model, model_images, save_model, write_grid
from w2w_core.directions import Directions, check_strengths, edit
from w2w_core.errors import InputError, LayoutMismatchError
from w2w_core.lora.layout import LoraLayout
from w2w_core.space import Space


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


def edited_models(theta: np.ndarray, space: Space, directions: Directions, edits: Mapping[str, float],
                  sweep: tuple[str, list[float]] | None) -> list[tuple[str, np.ndarray]]:
    """(label, θ') of the combined edit (if any) and of every sweep strength."""
    models = []
    if edits:
        label = ", ".join(f"{name} {value:+g}" for name, value in edits.items())
        models.append((label, edit(theta, space, directions, edits)))
    if sweep is not None:
        name, strengths = sweep
        models += [(f"{name} {s:+g}", edit(theta, space, directions, {name: s})) for s in strengths]
    if not models:
        raise InputError("nothing to edit: give --add ATTRIBUTE=STRENGTH (repeatable) or --sweep ATTRIBUTE=S1,S2,...")
    return models


def edit_model(model: str, store_url: str, out: Path, edits: Mapping[str, float],
               sweep: tuple[str, list[float]] | None = None, config: EditConfig = EditConfig(),
               storage_options: Mapping[str, Any] | None = None, model_dir: Path | None = None) -> dict[str, Any]:
    """Edit MODEL with the store's space and directions; LoRA files and edit.png under `out`."""
    store = WeightStore.open(store_url, storage_options, read_only=True)
    space, directions = load_space(store_url, storage_options), load_directions(store_url, storage_options)
    check_space_fits(space, store)
    for name in list(edits) + ([sweep[0]] if sweep else []):
        directions.index(name)  # an unknown attribute fails here, before any model loads
    theta, name = load_model(model, store)
    models = edited_models(theta, space, directions, edits, sweep)
    layout = LoraLayout.from_dict(store.layout)
    files = {label: str(save_model(vector, layout, out / f"{_slug(name)}_{_slug(label)}.safetensors", config.format))
             for label, vector in models}
    base = base_model_for(layout, model_dir)
    vectors = np.stack([theta] + [v for _, v in models])
    delayed = None
    if config.delay_t is not None:  # every row starts as the original model, the edit from timestep T on
        delayed = (vectors, config.delay_t)
        vectors = np.repeat(theta[None], len(vectors), axis=0)
    images = model_images(base, vectors, layout, config.pictures, delayed)
    rows = [(f"{name} (original)", images[0])] + [(label, images[i + 1]) for i, (label, _) in enumerate(models)]
    grid = write_grid(out / "edit.png", rows, f"{name}: edits along attribute directions (same noise in every row)")
    return {"model": name, "files": files, "grid": str(grid), "m": directions.m}


def check_space_fits(space: Space, store: WeightStore) -> None:
    """The space must have been fit on rows of this store's layout."""
    if space.n_params != store.n_params:
        raise LayoutMismatchError(f"the space has {space.n_params} weights per model, the store at {store.url} "
                                  f"{store.n_params}: it was fit on another layout; refit it (`w2w space fit`)")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text.replace(" ", "")).strip("_") or "model"


# ---- Prefect task ------------------------------------------------------------------------------

@task(name="edit-model", cache_policy=NO_CACHE)
def edit_model_task(model: str, store_url: str, out: str, edits: Mapping[str, float],
                    sweep: tuple[str, list[float]] | None = None, config: EditConfig = EditConfig(),
                    storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return edit_model(model, store_url, Path(out), edits, sweep, config, storage_options)
