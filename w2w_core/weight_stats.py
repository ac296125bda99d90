"""How much of a fine-tuned model's weights is its identity, and how much its fine-tune noise.

Directions and samples in the w2w space can only carry what the weights share
across models; these statistics measure that share from model differences, so
no model needs to be centred or known to be typical.
"""
from __future__ import annotations

import numpy as np


def relative_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over rows of |a_i - b_i| / |a_i|."""
    return float(np.mean(np.linalg.norm(a - b, axis=1) / np.linalg.norm(a, axis=1)))


def identity_share(same: np.ndarray, other: np.ndarray) -> float:
    """1 - E|x1 - x2|² / E|x - y|²: the identity's share of the spread between models.

    `same` [n, d]: differences of two fine-tunes of one identity (twice the noise variance);
    `other` [n, d]: differences of two identities (twice the identity plus noise variance).
    """
    return float(1 - np.mean(np.sum(same ** 2, axis=1)) / np.mean(np.sum(other ** 2, axis=1)))


def shared_share(differences: np.ndarray) -> float:
    """mean_{i != j} d_i . d_j / mean_i |d_i|²: the share of the moves' energy they have in common.

    For d_i = μ + noise_i, |μ|² / E|d|² without bias: 1 when every move is the same, about 0 when
    they are unrelated, whatever their number.
    """
    n = len(differences)
    gram = differences @ differences.T
    return float((gram.sum() - np.trace(gram)) / (n * (n - 1)) / (np.trace(gram) / n))
