"""Inversion: is the model inverted from one image the identity the image shows?

The ID score of an inverted model is `centroid_cosines` of its images against reference renders of
the identity (w2w_core.evaluate.fidelity); this adds which reference identity it is closest to.
"""
from __future__ import annotations

import numpy as np


def closest_identity(embeddings: np.ndarray, references: np.ndarray) -> np.ndarray:
    """For each model [M, n, E], the reference identity [R, E] its images' centroid is closest to."""
    means = embeddings.mean(axis=1)
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    return (means @ references.T).argmax(axis=1)
