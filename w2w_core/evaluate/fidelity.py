"""Identity fidelity: how much a model's images look like its identity, from probe embeddings.

The probe stands in for the paper's FaceNet identity score (Sec. 4); these functions only compare
arrays of unit embeddings, so they are exact and cheap.
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


def model_centroids(embeddings: np.ndarray) -> np.ndarray:
    """Unit centroid [M, E] of each model's image embeddings [M, n, E]."""
    return identity_centroids(embeddings.reshape(-1, embeddings.shape[-1]), len(embeddings))


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


def id_scores(embeddings: np.ndarray, n_identities: int, centroids: np.ndarray) -> np.ndarray:
    """Per identity: the mean cosine of its images' embeddings to its reference centroid (paper Sec. 4's
    ID score, with the probe in FaceNet's place). `embeddings` [n_identities * m, E] are grouped per
    identity and unit length; `centroids` [n_identities, E] unit length."""
    if len(embeddings) % n_identities or centroids.shape != (n_identities, embeddings.shape[-1]):
        raise InputError(f"{len(embeddings)} embeddings and centroids {centroids.shape} do not match "
                         f"{n_identities} identities")
    per_identity = embeddings.reshape(n_identities, -1, embeddings.shape[-1])
    return np.einsum("nme,ne->nm", per_identity, centroids).mean(axis=1)


def centroid_cosines(embeddings: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Per model: the mean cosine of its images' unit embeddings [M, n, E] to its own unit centroid [M, E]
    (the ID score of models whose images are grouped per model)."""
    return np.einsum("mne,me->mn", embeddings, centroids).mean(axis=1)


def centroid_pair_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pair i: the cosine between unit centroid i of `a` and unit centroid i of `b` ([M, E] each), e.g. a
    model's generated images against its identity's renders."""
    return np.einsum("ne,ne->n", a, b)


def paired_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per model: the mean cosine between image i of `a` and image i of `b` (unit embeddings [M, n, E])."""
    return np.einsum("mne,mne->mn", a, b).mean(axis=1)
