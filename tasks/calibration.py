"""Calibrating the edit strength: strength 1 is the edit that flips the attribute on a typical training model.

A direction's raw unit (the farthest training model along it) says nothing a
user can see: on the embedded zoo an edit showed at 3-6 and not at 1. On a
store of the embedded world the probe can read every attribute, so the strength
is measured instead: a few training models are edited towards the value they
lack along a sweep of strengths, and the probe reads their images; strength 1
becomes the smallest strength at which at least half of them flip
(w2w_core.directions.calibrated). A store of other images keeps the raw unit.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from tqdm import tqdm

from storage.space_store import load_space
from storage.weight_store import WeightStore
from tasks.config import CalibrationConfig
from tasks.models import base_model_for, model_images
from w2w_core.base_model import DEFAULT_MODEL_ID
from w2w_core.directions import Directions, calibrated, edit, with_calibration_of
from w2w_core.evaluate import flip_rates, majority
from w2w_core.lora.layout import LoraLayout
from w2w_core.probe import ProbeConfig, load_probe, read_models
from w2w_core.space import Space


def probe_reads(store: WeightStore) -> list[str]:
    """The store's attributes the embedded probe reads, if the store is of the embedded world on the
    embedded base model (the only images the probe knows); none otherwise."""
    layout = LoraLayout.from_dict(store.layout)
    return readable_attributes(layout.base_model_id, store.train_config, store.attribute_names)


def readable_attributes(base_model_id: str, train_config: Mapping[str, Any], names: list[str]) -> list[str]:
    """`names` the probe reads, for a store trained on `base_model_id` with `train_config`."""
    if base_model_id != DEFAULT_MODEL_ID or train_config.get("identities", {}).get("source") != "world":
        return []
    return [name for name in names if name in ProbeConfig().attributes]


def calibration_rows(space: Space, n: int, seed: int) -> np.ndarray:
    """n of the rows the space was fit on, drawn once with `seed` (the same models for every attribute)."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(space.row_ids, size=min(n, len(space.row_ids)), replace=False))


def calibrate(store_url: str, directions: Directions, config: CalibrationConfig = CalibrationConfig(),
              storage_options: Mapping[str, Any] | None = None) -> Directions:
    """`directions` with strength 1 measured per attribute the probe reads (unchanged if it reads none)."""
    store = WeightStore.open(store_url, storage_options, read_only=True)
    names = [n for n in probe_reads(store) if n in directions.names]
    if not names:
        return directions
    space, layout, probe = load_space(store_url, storage_options), LoraLayout.from_dict(store.layout), load_probe()
    base = base_model_for(layout)
    thetas = store.read_rows(calibration_rows(space, config.models, config.seed).tolist()).astype(np.float32)

    def readings(vectors: np.ndarray) -> np.ndarray:
        return majority(read_models(probe, model_images(base, vectors, layout, config.pictures))[0])

    had = readings(thetas)
    sweeps = {}
    for name in tqdm(names, desc="calibrating strength 1", unit="attribute"):
        a = list(probe.config.attributes).index(name)
        toward = np.where(had[:, a], -1.0, 1.0)  # each model towards the value it lacks
        edited = np.stack([edit(theta, space, directions, {name: sign * s})
                           for s in config.raw_strengths for theta, sign in zip(thetas, toward)])
        after = readings(edited)[:, a].reshape(len(config.raw_strengths), len(thetas))
        sweeps[name] = flip_rates(after, had[:, a])
    return calibrated(directions, sweeps, config.raw_strengths, len(thetas), config.target)


def calibration_of(directions: Directions, reference_url: str,
                   storage_options: Mapping[str, Any] | None = None) -> Directions:
    """`directions` with the strength unit measured for the directions saved at `reference_url`."""
    from storage.directions_store import load_directions

    return with_calibration_of(directions, load_directions(reference_url, storage_options))


# ---- Prefect tasks ------------------------------------------------------------------------------

@task(name="calibrate-directions", cache_policy=NO_CACHE)
def calibrate_task(store_url: str, directions: Directions, config: CalibrationConfig,
                   storage_options: Mapping[str, Any] | None = None) -> Directions:
    result = calibrate(store_url, directions, config, storage_options)
    if result.calibration is not None:
        strengths = ", ".join(f"{name} {entry['raw_strength']:.1f}" + ("" if entry["reached"] else " (not reached)")
                              for name, entry in result.calibration["attributes"].items())
        get_run_logger().info(f"strength 1 set to the raw strength that flips half the models: {strengths}")
    return result


@task(name="take-calibration", cache_policy=NO_CACHE)
def calibration_of_task(directions: Directions, reference_url: str,
                        storage_options: Mapping[str, Any] | None = None) -> Directions:
    return calibration_of(directions, reference_url, storage_options)
