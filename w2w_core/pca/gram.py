"""Exact PCA through the N x N Gram matrix, for moderate N (a few thousand rows).

    G = X̃ X̃ᵀ = Σ_slabs X̃[:, c] X̃[:, c]ᵀ      accumulated over column slabs [N, w]
    G = U Λ Uᵀ,  σ = √λ                          top-k eigenpairs (LAPACK subset driver)
    V = X̃ᵀ U Σ⁻¹                                 components, one more pass
    coefficients = X̃ V = U Σ

A slab holds every row of its columns, so μ and s of those columns come from
the slab itself: no separate moments pass. Passes: one per slab (a slab reads
only its columns when the store is chunked along parameters; otherwise each
slab decodes whole rows) + 1. Memory: G (8 N² bytes) + one slab (`gram_slab_bytes`).
"""
from __future__ import annotations

import math
from types import ModuleType
from typing import Any

from w2w_core.pca.config import PCAConfig
from w2w_core.pca.kernels import standardization_from_moments, top_eigh
from w2w_core.pca.passes import Matrix, column_slab, rmatmat
from w2w_core.pca.result import Decomposition


def slab_width(config: PCAConfig, n_rows: int, n_cols: int, column_chunk: int = 1) -> int:
    """Columns per slab: as many as `gram_slab_bytes` holds, in whole store column chunks (a slab
    cutting a chunk would decode it twice), but at least one chunk."""
    width = max(1, config.gram_slab_bytes // (4 * max(n_rows, 1)))
    return min(n_cols, max(column_chunk, width // column_chunk * column_chunk))


def planned_passes(config: PCAConfig, n_rows: int, n_cols: int, column_chunk: int = 1) -> int:
    return math.ceil(n_cols / slab_width(config, n_rows, n_cols, column_chunk)) + 1


def _column_sum_of_squares(xp: ModuleType, a: Any, rows: int = 512) -> Any:
    """Σ_i a[i, j]² in float64, a few rows at a time (no temporary as big as the slab)."""
    total = xp.zeros(a.shape[1], dtype=xp.float64)
    for r0 in range(0, a.shape[0], rows):
        part = a[r0:r0 + rows]
        total += xp.sum(part * part, axis=0, dtype=xp.float64)
    return total


def fit(matrix: Matrix, config: PCAConfig) -> Decomposition:
    xp, n, d, k = matrix.xp, matrix.n_rows, matrix.n_cols, config.k
    width = slab_width(config, n, d, matrix.column_chunk)
    n_slabs = math.ceil(d / width)
    g = xp.zeros((n, n), dtype=xp.float64)
    means, m2s = [], []
    for i, c0 in enumerate(range(0, d, width)):
        slab = column_slab(matrix, c0, min(d, c0 + width), f"gram slab {i + 1}/{n_slabs}: G += X̃X̃ᵀ")
        mean = xp.mean(slab, axis=0, dtype=xp.float64)
        slab -= mean.astype(xp.float32)
        m2 = _column_sum_of_squares(xp, slab)
        if config.standardize:
            slab *= xp.where(m2 > 0, xp.sqrt((n - 1) / xp.where(m2 > 0, m2, 1.0)), 1.0).astype(xp.float32)
        g += slab @ slab.T  # BLAS syrk: a matrix times its own transpose
        means.append(mean)
        m2s.append(m2)
        del slab
    std = standardization_from_moments(xp, n, xp.concatenate(means), xp.concatenate(m2s), config.standardize)
    lam, u = top_eigh(xp, g, k)
    del g
    s = xp.sqrt(xp.maximum(lam, 0.0))
    inv_s = xp.where(s > 0, 1.0 / xp.where(s > 0, s, 1.0), 0.0)  # σ = 0 only when k > rank
    components = rmatmat(matrix, std, (u * inv_s).astype(xp.float32), "components: V = X̃ᵀUΣ⁻¹")
    return Decomposition(std, components, s, (u * s).astype(xp.float32))


