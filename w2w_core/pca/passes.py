"""The passes the PCA routes share: column moments, X̃ Ω, X̃ᵀ Q, and column slabs.

Each function here is exactly one pass over the rows of the matrix (a
`CountingMatrix`, so the pass is timed and reported under its label).
"""
from __future__ import annotations

from functools import partial
from typing import Any

from w2w_core.pca.kernels import (
    Standardization,
    matmat_kernel,
    merge_moments,
    moments_kernel,
    rmatmat_kernel,
    slab_kernel,
    standardization_from_moments,
)
from w2w_core.pca.operator import CountingMatrix as Matrix


def column_moments(matrix: Matrix, standardize: bool, label: str) -> Standardization:
    """μ and s of every parameter (float64, merged block by block), in one pass."""
    merged: list[tuple[int, Any, Any]] = []

    def merge(start: int, stop: int, moments: tuple[int, Any, Any]) -> None:
        merged[:] = [moments if not merged else merge_moments(merged[0], moments)]

    matrix.pass_over_rows(partial(moments_kernel, matrix.xp), merge, label=label)
    return standardization_from_moments(matrix.xp, *merged[0], standardize)


def matmat(matrix: Matrix, std: Standardization, omega: Any, label: str) -> Any:
    """Y = X̃ Ω [N, l] (each block fills its own rows of Y)."""
    xp = matrix.xp
    y = xp.empty((matrix.n_rows, omega.shape[1]), dtype=xp.float32)

    def place(start: int, stop: int, rows: Any) -> None:
        y[start:stop] = rows

    matrix.pass_over_rows(partial(matmat_kernel, xp), place, (std, omega), label=label)
    return y


def rmatmat(matrix: Matrix, std: Standardization, q: Any, label: str) -> Any:
    """Z = X̃ᵀ Q [d, l] (the blocks' partial products are summed as they arrive)."""
    xp = matrix.xp
    z = xp.zeros((matrix.n_cols, q.shape[1]), dtype=xp.float32)

    def accumulate(start: int, stop: int, part: Any) -> None:
        xp.add(z, part, out=z)

    matrix.pass_over_rows(partial(rmatmat_kernel, xp), accumulate, (std, q), label=label)
    return z


def column_slab(matrix: Matrix, c0: int, c1: int, label: str) -> Any:
    """X[:, c0:c1] [N, c1 - c0] as float32 on xp (reads only those columns where the store allows)."""
    xp = matrix.xp
    slab = xp.empty((matrix.n_rows, c1 - c0), dtype=xp.float32)

    def place(start: int, stop: int, rows: Any) -> None:
        slab[start:stop] = rows

    matrix.pass_over_rows(partial(slab_kernel, xp), place, columns=slice(c0, c1), label=label)
    return slab
