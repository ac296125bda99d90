"""Randomized PCA (Halko, Martinsson & Tropp 2011, Alg. 4.4 with QR at every step), out of core.

In standardized coordinates X̃ [N, d] and with l = k + p sketch columns:

    Y = X̃ Ω,  Ω ~ N(0, 1)^{d x l};  Q = qr(Y)     range finder (HMT Alg. 4.1)
    loop:
        Bᵀ = X̃ᵀ Q = Q_b R                         B = Qᵀ X̃ [l, d], thin QR of its transpose
        σ = svd(Rᵀ)                               Ritz values: the answer for this Q, for free
        stop after q power iterations, or once the top-k σ moved less than `tol` (adaptive)
        Q = qr(X̃ Q_b)                             power iteration (Alg. 4.4); without the QRs
                                                  the columns collapse onto σ₁ after ~2 steps
    Rᵀ = U_r Σ V_rᵀ  ->  components = Q_b V_r[:, :k],  coefficients ≈ Q U_r[:, :k] Σ_k

The Bᵀ pass of one step is the first half of the next power iteration, so watching the
Ritz values costs nothing and stopping early saves two passes per iteration not needed.
Passes: 1 (moments) + 1 (sketch) + 2q (power iterations) + 1 (last Bᵀ) = 2q + 3.
Memory: Ω or Q_b [d, l], Q [N, l], one block and one [d, l] partial in flight; never N x d.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from w2w_core.pca.config import PCAConfig
from w2w_core.pca.kernels import orthonormalize, thin_qr
from w2w_core.pca.passes import Matrix, column_moments, matmat, rmatmat
from w2w_core.pca.result import Decomposition


def sketch_size(config: PCAConfig, n_rows: int, n_cols: int) -> int:
    """l = k + p, capped by the matrix size."""
    return min(config.k + config.oversamples, n_rows, n_cols)


def planned_passes(config: PCAConfig, n_rows: int, n_cols: int, column_chunk: int = 1) -> int:
    """Passes with the most power iterations the settings allow (adaptive fits may stop sooner)."""
    return 2 * config.max_power_iter + 3


def _ritz(xp: Any, r: Any) -> tuple[Any, Any, Any]:
    """SVD of Rᵀ [l, l] in float64: (U_r, σ, V_rᵀ)."""
    return xp.linalg.svd(r.T.astype(xp.float64))


def _converged(previous: Any, current: Any, k: int, tol: float) -> bool:
    """Top-k Ritz values moved by less than `tol`, relative to each value."""
    change = abs(current[:k] - previous[:k]) / current[:k].clip(1e-300)
    return float(change.max()) < tol


def _project(xp: Any, matrix: Matrix, std: Any, q: Any, i: int) -> tuple[Any, Any, Any, Any]:
    """Bᵀ = X̃ᵀQ = Q_b R after `i` power iterations, with the Ritz values of this Q: (Q_b, U_r, σ, V_rᵀ)."""
    q_b, r = thin_qr(xp, rmatmat(matrix, std, q, f"Bᵀ = X̃ᵀQ ({i} power iterations)"))
    return (q_b, *_ritz(xp, r))


def fit(matrix: Matrix, config: PCAConfig) -> Decomposition:
    xp, k = matrix.xp, config.k
    std = column_moments(matrix, config.standardize, label="moments: μ, s")
    width = sketch_size(config, matrix.n_rows, matrix.n_cols)  # l = k + p sketch columns
    rng = np.random.default_rng(config.seed)  # drawn on the host: the same Ω on NumPy and CuPy
    omega = xp.asarray(rng.standard_normal((matrix.n_cols, width), dtype=np.float32))
    q = orthonormalize(xp, matmat(matrix, std, omega, "sketch: Y = X̃Ω"))
    del omega
    q_b, u_r, s, vt_r = _project(xp, matrix, std, q, 0)
    for i in range(1, config.max_power_iter + 1):
        q = orthonormalize(xp, matmat(matrix, std, q_b, f"power {i}: Y = X̃Z"))
        del q_b  # this Q_b [d, l] goes before the next Bᵀ pass makes its own
        previous = s
        q_b, u_r, s, vt_r = _project(xp, matrix, std, q, i)
        if config.n_power_iter is None and i >= config.min_power_iter and _converged(previous, s, k, config.tol):
            break  # adaptive: the top-k Ritz values have settled
    components = q_b @ vt_r[:k].T.astype(xp.float32)
    coefficients = q @ (u_r[:, :k] * s[:k]).astype(xp.float32)
    return Decomposition(std, components, s[:k], coefficients)
