"""Randomized PCA (Halko, Martinsson & Tropp 2011, Alg. 4.4 with QR at every step), out of core.

In standardized coordinates X̃ [N, d] and with l = k + p sketch columns:

    Y = X̃ Ω,  Ω ~ N(0, 1)^{d x l}              range finder (HMT Alg. 4.1)
    Q = qr(Y)
    repeat q times:  Z = qr(X̃ᵀ Q);  Q = qr(X̃ Z)   power iterations, QR-normalized (Alg. 4.4):
                                                without the QRs, columns collapse onto σ₁ after ~2
    Bᵀ = X̃ᵀ Q                                   B = Qᵀ X̃ [l, d]
    Bᵀ = Q_b R;  Rᵀ = U_r Σ V_rᵀ                 so B = U_r Σ (Q_b V_r)ᵀ
    components = Q_b V_r[:, :k],  coefficients ≈ Q U_r[:, :k] Σ_k

Passes over the data: 1 (moments) + 1 (sketch) + 2q (power) + 1 (Bᵀ) = 2q + 3.
Memory: Ω or Z [d, l], Y/Q [N, l], one block and one [d, l] partial per block in flight;
never N x d.
"""
from __future__ import annotations

import numpy as np

from w2w_core.pca.config import PCAConfig
from w2w_core.pca.kernels import orthonormalize
from w2w_core.pca.passes import Matrix, column_moments, matmat, rmatmat
from w2w_core.pca.result import Decomposition


def sketch_size(config: PCAConfig, n_rows: int, n_cols: int) -> int:
    """l = k + p, capped by the matrix size."""
    return min(config.k + config.oversamples, n_rows, n_cols)


def planned_passes(config: PCAConfig, n_rows: int, n_cols: int) -> int:
    return 2 * config.power_iter + 3


def fit(matrix: Matrix, config: PCAConfig) -> Decomposition:
    xp, k = matrix.xp, config.k
    std = column_moments(matrix, config.standardize, label="moments: μ, s")
    n_iter, l = config.power_iter, sketch_size(config, matrix.n_rows, matrix.n_cols)
    rng = np.random.default_rng(config.seed)  # drawn on the host: the same Ω on NumPy and CuPy
    omega = xp.asarray(rng.standard_normal((matrix.n_cols, l), dtype=np.float32))
    q = orthonormalize(xp, matmat(matrix, std, omega, "sketch: Y = X̃Ω"))
    del omega
    for i in range(1, n_iter + 1):
        z = orthonormalize(xp, rmatmat(matrix, std, q, f"power {i}/{n_iter}: Z = X̃ᵀQ"))
        q = orthonormalize(xp, matmat(matrix, std, z, f"power {i}/{n_iter}: Y = X̃Z"))
        del z
    bt = rmatmat(matrix, std, q, "project: Bᵀ = X̃ᵀQ")
    q_b, r = xp.linalg.qr(bt, mode="reduced")
    del bt
    u_r, s, vt_r = xp.linalg.svd(r.T.astype(xp.float64))
    components = q_b @ vt_r[:k].T.astype(xp.float32)
    coefficients = q @ (u_r[:, :k] * s[:k]).astype(xp.float32)
    return Decomposition(std, components, s[:k], coefficients)
