"""Sampled models: are they distinct people, each one person, with the training set's attributes?

Distances are 1 - cosine between unit probe embeddings: of model centroids (one per model) or of
single images (different noise), as paper Sec. 4.1 compares sampled identities with FaceNet.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from w2w_core.evaluate.fidelity import centroid_pair_cosines


def spread_between_and_within(embeddings: np.ndarray) -> tuple[float, float]:
    """How different models are from each other and how much the images of one model differ: the mean
    1 - cosine between two single images drawn with different noise, of two models (between) or of one
    model (within). Both compare single images with different noise, so a model that keeps one identity
    across noise has between > within, and identical models have between == within (pairs with the same
    noise are left out: every model's image i shares its noise, which alone makes them alike)."""
    m, n = embeddings.shape[:2]
    flat = embeddings.reshape(m * n, -1)
    cosines = flat @ flat.T
    model, noise = np.repeat(np.arange(m), n), np.tile(np.arange(n), m)
    other_noise = noise[:, None] != noise[None, :]
    same_model = model[:, None] == model[None, :]
    between = 1 - cosines[other_noise & ~same_model].mean() if m > 1 and n > 1 else float("nan")
    within = 1 - cosines[other_noise & same_model].mean() if n > 1 else float("nan")
    return float(between), float(within)


def mean_apart(centroids: np.ndarray) -> float:
    """Mean 1 - cosine between the unit centroids [M, E] of distinct models."""
    cosines = centroids @ centroids.T
    return float(1 - cosines[~np.eye(len(centroids), dtype=bool)].mean())


def paired_apart(a: np.ndarray, b: np.ndarray) -> float:
    """Mean 1 - cosine between centroid i of `a` and centroid i of `b` (unit [M, E]): e.g. a sample and the
    training model nearest to it, or two fine-tunes of one identity."""
    return float(1 - centroid_pair_cosines(a, b).mean())


def attribute_frequencies(readings: np.ndarray, names: Sequence[str], attributes: Sequence[str]) -> dict[str, float]:
    """Per attribute in `attributes`: the share of models (readings bool [M, A], columns `names`) read with it."""
    names = list(names)
    return {name: float(readings[:, names.index(name)].mean()) for name in attributes}
