"""New identity models sampled from the w2w space (paper Sec. 3.2), each beside its nearest training identity.

Plain functions first (usable without Prefect), then the Prefect task.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from storage.space_store import load_space
from storage.weight_store import WeightStore
from tasks.config import SampleConfig
from tasks.directions import training_coefficients
from tasks.editing import check_space_fits
from tasks.models import base_model_for, model_images, save_model, write_grid
from w2w_core.attribute_model import fit_attribute_model, sample_by_mixing, sample_with_attributes
from w2w_core.evaluate import Reader, centroid_pair_cosines
from w2w_core.lora.layout import LoraLayout
from w2w_core.space import Space, reconstruct, sample_coefficients


def nearest_training_models(samples: np.ndarray, coefficients: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each sampled β [n, k]: the index of the training β [N, k] with the largest cosine, and that cosine."""
    a = samples / np.linalg.norm(samples, axis=1, keepdims=True)
    b = coefficients / np.linalg.norm(coefficients, axis=1, keepdims=True)
    cosines = a @ b.T
    nearest = cosines.argmax(axis=1)
    return nearest, cosines[np.arange(len(a)), nearest]


def sampled_coefficients(space: Space, training: np.ndarray, labels: np.ndarray, config: SampleConfig) -> np.ndarray:
    """β [n, k] of `config.n` new models: the paper's independent Gaussians, or drawn with the training
    models' attributes and Gaussian (`method="attributes"`) or mixed training residuals (`"mix"`,
    w2w_core/attribute_model)."""
    rng = np.random.default_rng(config.seed)
    if config.method == "gaussian":
        return sample_coefficients(space, config.n, rng, config.spread, config.m)
    model = fit_attribute_model(training, labels)
    if config.method == "mix":
        return sample_by_mixing(model, training, config.n, rng, config.mix, config.spread, config.m,
                                config.label_contrast)[0]
    return sample_with_attributes(model, config.n, rng, config.spread, config.m, config.label_contrast)[0]


def sample_models(store_url: str, out: Path, config: SampleConfig = SampleConfig(),
                  storage_options: Mapping[str, Any] | None = None, model_dir: Path | None = None) -> dict[str, Any]:
    """Sample `config.n` models; write each as a LoRA file, and a grid beside their nearest training identities."""
    store = WeightStore.open(store_url, storage_options, read_only=True)
    space = load_space(store_url, storage_options)
    check_space_fits(space, store)
    training, labels, _ = training_coefficients(store_url, space, storage_options)
    beta = sampled_coefficients(space, training, labels, config)
    vectors = np.asarray(reconstruct(space, beta.astype(np.float32)), np.float32)
    nearest, cosine = nearest_training_models(beta, training)
    rows = space.row_ids[nearest]
    layout = LoraLayout.from_dict(store.layout)
    files = [str(save_model(v, layout, out / f"sample-{i:03d}.safetensors")) for i, v in enumerate(vectors)]
    base = base_model_for(layout, model_dir)
    neighbours = store.read_rows(rows).astype(np.float32)
    images = model_images(base, np.concatenate([vectors, neighbours]), layout, config.pictures)
    similarity = _probe_similarity(images[: config.n], images[config.n:])
    ids = store.identities(rows)[0]
    picture = write_grid(out / "samples.png", [row for i in range(config.n) for row in (
        (f"sample {i}", images[i]),
        (f"nearest: {ids[i]}\ncos {cosine[i]:.2f}, probe {similarity[i]:.2f}", images[config.n + i]))],
        "new identities sampled from the w2w space, each above its nearest training identity (same noise)")
    return {"files": files, "grid": str(picture), "nearest": [
        {"sample": i, "identity": str(ids[i]), "row": int(rows[i]), "coefficient_cosine": float(cosine[i]),
         "probe_similarity": float(similarity[i])} for i in range(config.n)]}


def _probe_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pair of models: the cosine of their images' probe-embedding centroids (w2w_core.evaluate's
    definition, as the report and the sampling benchmark use it)."""
    reader = Reader.load()
    return centroid_pair_cosines(reader.centroids(a), reader.centroids(b))


# ---- Prefect task ------------------------------------------------------------------------------

@task(name="sample-models", cache_policy=NO_CACHE)
def sample_models_task(store_url: str, out: str, config: SampleConfig = SampleConfig(),
                       storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return sample_models(store_url, Path(out), config, storage_options)
