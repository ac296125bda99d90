"""Editing identity models along attribute directions (paper Sec. 3.3): the LoRA files and the picture.

`edit_model` reads a model (a LoRA file, a θ .npy, a store row), applies the
combined edit and any strength sweep with the store's space and directions,
writes each edited model as a LoRA file and a labelled grid of what they
generate (every row from the same noise). Plain functions first, then the
Prefect task.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.config import EditConfig
from tasks.inputs import StoreInputs, check_edit, check_space_fits, parse_edits, parse_sweep  # noqa: F401 - re-exported
from tasks.models import base_model_for, load_model, model_images, save_model, write_grid
from w2w_core.directions import Directions, edit, unit_meaning
from w2w_core.errors import InputError
from w2w_core.space import Space


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
    inputs = check_edit(model, store_url, edits, sweep, storage_options, model_dir)
    return edit_checked(model, inputs, out, edits, sweep, config)


def edit_checked(model: str, inputs: StoreInputs, out: Path, edits: Mapping[str, float],
                 sweep: tuple[str, list[float]] | None, config: EditConfig) -> dict[str, Any]:
    """`edit_model` once `check_edit` has read the store and MODEL: the edited LoRA files, then the picture."""
    theta, name = load_model(model, inputs.store)
    models = edited_models(theta, inputs.space, inputs.directions, edits, sweep)
    layout = inputs.layout
    files = {label: str(save_model(vector, layout, out / f"{_slug(name)}_{_slug(label)}.safetensors", config.format))
             for label, vector in models}
    base = base_model_for(layout, inputs.model_folder)
    vectors = np.stack([theta] + [v for _, v in models])
    delayed = None
    if config.delay_t is not None:  # every row starts as the original model, the edit from timestep T on
        delayed = (vectors, config.delay_t)
        vectors = np.repeat(theta[None], len(vectors), axis=0)
    images = model_images(base, vectors, layout, config.pictures, delayed)
    rows = [(f"{name} (original)", images[0])] + [(label, images[i + 1]) for i, (label, _) in enumerate(models)]
    grid = write_grid(out / "edit.png", rows, f"{name}: edits along attribute directions (same noise in every row)")
    return {"model": name, "files": files, "grid": str(grid), "m": inputs.directions.m,
            "strength_1": unit_meaning(inputs.directions)}


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text.replace(" ", "")).strip("_") or "model"


# ---- Prefect task ------------------------------------------------------------------------------

@task(name="edit-model", cache_policy=NO_CACHE)
def edit_model_task(model: str, store_url: str, out: str, edits: Mapping[str, float],
                    sweep: tuple[str, list[float]] | None = None, config: EditConfig = EditConfig(),
                    storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return edit_model(model, store_url, Path(out), edits, sweep, config, storage_options)
