"""Evaluation with ground truth: identity fidelity and attribute accuracy, from probe outputs.

The probe stands in for the paper's FaceNet identity score and CLIP attribute
checks (Sec. 4); these functions only compare arrays, so they are exact and cheap.
"""
from __future__ import annotations

import numpy as np

from w2w_core.errors import InputError


def identity_centroids(embeddings: np.ndarray, n_identities: int) -> np.ndarray:
    """[n_identities * m, E] embeddings grouped per identity -> unit mean embedding per identity."""
    if len(embeddings) % n_identities:
        raise InputError(f"{len(embeddings)} embeddings do not split evenly into {n_identities} identities")
    means = embeddings.reshape(n_identities, -1, embeddings.shape[-1]).mean(1)
    return means / np.linalg.norm(means, axis=1, keepdims=True)


def rank_percentile(query: np.ndarray, gallery: np.ndarray, own: int) -> float:
    """Share of the other identities in `gallery` that are farther from `query` than identity `own`.

    1.0: the query is closer to its own identity than to every other one; 0.5: chance.
    """
    similarity = gallery @ query
    others = np.delete(similarity, own)
    return float(np.mean(others < similarity[own]))


def fidelity_percentiles(generated: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Per identity i: rank_percentile of its generated images' centroid against all reference centroids."""
    if generated.shape != references.shape:
        raise InputError(f"generated centroids {generated.shape} and references {references.shape} differ")
    return np.array([rank_percentile(generated[i], references, i) for i in range(len(generated))])


def attribute_accuracy(predicted: np.ndarray, prompted: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Per attribute: how often the prediction equals what the prompt asked for (where mask is set)."""
    mask = np.ones_like(prompted, bool) if mask is None else mask
    hits = (predicted == prompted) & mask
    counts = mask.sum(0)
    return np.where(counts > 0, hits.sum(0) / np.maximum(counts, 1), np.nan)


def id_scores(embeddings: np.ndarray, n_identities: int, centroids: np.ndarray) -> np.ndarray:
    """Per identity: the mean cosine of its images' embeddings to its reference centroid (paper Sec. 4's
    ID score, with the probe in FaceNet's place). `embeddings` [n_identities * m, E] are grouped per
    identity and unit length; `centroids` [n_identities, E] unit length."""
    if len(embeddings) % n_identities or centroids.shape != (n_identities, embeddings.shape[-1]):
        raise InputError(f"{len(embeddings)} embeddings and centroids {centroids.shape} do not match "
                         f"{n_identities} identities")
    per_identity = embeddings.reshape(n_identities, -1, embeddings.shape[-1])
    return np.einsum("nme,ne->nm", per_identity, centroids).mean(axis=1)


def majority(readings: np.ndarray) -> np.ndarray:
    """Per model: bool [M, A] attributes read as true in more than half of its images (readings [M, n, A])."""
    return readings.mean(axis=1) > 0.5


def centroid_cosines(embeddings: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Per model: the mean cosine of its images' unit embeddings [M, n, E] to its own unit centroid [M, E]."""
    return np.einsum("mne,me->mn", embeddings, centroids).mean(axis=1)


def paired_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per model: the mean cosine between image i of `a` and image i of `b` (unit embeddings [M, n, E])."""
    return np.einsum("mne,mne->mn", a, b).mean(axis=1)


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


def flip_rates(after: np.ndarray, had: np.ndarray) -> np.ndarray:
    """Per strength of a sweep: the share of models whose reading of one attribute is no longer what it
    was before the edit. `after` bool [S, M] (strength, model), `had` bool [M]; an edit moves each model
    towards the value it lacked, so a changed reading is a flip."""
    after, had = np.asarray(after, bool), np.asarray(had, bool)
    if after.ndim != 2 or after.shape[1:] != had.shape:
        raise InputError(f"readings after {after.shape} do not match {had.shape} models' readings before")
    return (after != had[None, :]).mean(axis=1)
