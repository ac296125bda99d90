"""Matrices with known spectra, and the exact answers the PCA is checked against."""
from __future__ import annotations

import numpy as np


def matrix_with_spectrum(singular_values: np.ndarray, n: int, d: int, rng: np.random.Generator,
                         offset: float = 0.0, column_scales: np.ndarray | None = None) -> np.ndarray:
    """X = U diag(σ) Vᵀ (U centered, so the centered matrix has exactly these σ), plus a row offset
    and optional per-column scales; float32."""
    r = len(singular_values)
    u, _ = np.linalg.qr(rng.standard_normal((n, r + 1)))
    u = u[:, 1:] - u[:, 1:].mean(axis=0)  # centered columns, then re-orthonormalized
    u, _ = np.linalg.qr(u)
    v, _ = np.linalg.qr(rng.standard_normal((d, r)))
    x = (u * singular_values) @ v.T + offset * rng.standard_normal(d)
    if column_scales is not None:
        x = x * column_scales
    return x.astype(np.float32)


def separated(k: int) -> np.ndarray:
    """Well separated: geometric decay, σ_{j+1}/σ_j = 0.8, then nothing."""
    return 100.0 * 0.8 ** np.arange(k)


def slow(n: int) -> np.ndarray:
    """Slowly decaying over the whole rank: σ_j ∝ j^(-1/2) (the hard case for sketches)."""
    return 100.0 * np.arange(1, n + 1) ** -0.5


def exact_pca(x: np.ndarray, standardize: bool) -> tuple[np.ndarray, np.ndarray]:
    """(σ, Vᵀ) of the centered (and standardized, ddof=1) matrix by a dense float64 SVD."""
    x = x.astype(np.float64)
    xs = x - x.mean(axis=0)
    if standardize:
        s = xs.std(axis=0, ddof=1)
        xs = xs / np.where(s > 0, s, 1.0)
    _, sigma, vt = np.linalg.svd(xs, full_matrices=False)
    return sigma, vt


def subspace_cosine(vt_exact: np.ndarray, components: np.ndarray) -> float:
    """Mean squared cosine between the top-k exact subspace and the fitted one (1 = identical)."""
    k = components.shape[1]
    return float(np.sum((vt_exact[:k] @ components.astype(np.float64)) ** 2) / k)


def max_relative_error(exact: np.ndarray, fitted: np.ndarray) -> float:
    k = len(fitted)
    return float(np.max(np.abs(fitted - exact[:k]) / exact[:k]))
