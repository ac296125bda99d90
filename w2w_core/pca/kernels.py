"""What the PCA computes on one block of rows, and the small dense linear algebra.

Block kernels get a raw block X[start:stop] (host NumPy, float16 or float32)
and return a small result on the `xp` device. Standardization happens inside
the kernel, block by block, so the standardized matrix

    X̃ = (X - 1 μᵀ) diag(1/s)        (per-parameter standardization, as the reference does)

is never formed. Products run in float32 (what the GPU and BLAS do fast);
moments, eigen- and singular-value problems of the small factors in float64.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Standardization:
    """The affine map X -> X̃ applied to every row before any product."""

    center: Any  # [d] float32 on xp: the per-parameter mean μ
    inv_scale: Any | None  # [d] float32 on xp: 1/s per parameter; None when not standardizing
    scale: np.ndarray  # [d] float32 on the host: s (ones when not standardizing; 1 for constant parameters)
    total_variance: float  # ‖X̃‖_F², the denominator of the explained-variance ratio


def standardized(xp: ModuleType, block: Any, std: Standardization, columns: slice = slice(None)) -> Any:
    """X̃ for one block, as a fresh float32 array on xp (the input block is never modified)."""
    out = xp.subtract(xp.asarray(block), std.center[columns], dtype=xp.float32)
    if std.inv_scale is not None:
        out *= std.inv_scale[columns]
    return out


def moments_kernel(xp: ModuleType, block: Any, start: int, stop: int) -> tuple[int, Any, Any]:
    """(count, mean, M2) of each column of one block, in float64 (Chan et al. merge below)."""
    b = xp.asarray(block)
    mean = xp.mean(b, axis=0, dtype=xp.float64)
    centered = xp.subtract(b, mean.astype(xp.float32), dtype=xp.float32)
    centered *= centered
    return b.shape[0], mean, xp.sum(centered, axis=0, dtype=xp.float64)


def merge_moments(a: tuple[int, Any, Any], b: tuple[int, Any, Any]) -> tuple[int, Any, Any]:
    """Pairwise merge of (count, mean, M2): numerically stable, in any order."""
    (na, ma, m2a), (nb, mb, m2b) = a, b
    n = na + nb
    delta = mb - ma
    return n, ma + delta * (nb / n), m2a + m2b + delta * delta * (na * nb / n)


def matmat_kernel(xp: ModuleType, block: Any, start: int, stop: int, std: Standardization,
                  omega: Any) -> Any:
    """X̃[start:stop] @ Ω: this block's rows of the sketch Y = X̃ Ω."""
    return standardized(xp, block, std) @ omega


def rmatmat_kernel(xp: ModuleType, block: Any, start: int, stop: int, std: Standardization,
                   q: Any) -> Any:
    """X̃[start:stop]ᵀ @ Q[start:stop]: this block's share of Z = X̃ᵀ Q (summed over blocks)."""
    return standardized(xp, block, std).T @ q[start:stop]


def slab_kernel(xp: ModuleType, block: Any, start: int, stop: int) -> Any:
    """The block itself as float32 on xp (the Gram route assembles column slabs from these)."""
    return xp.asarray(block, dtype=xp.float32)


def _one_lapack_thread() -> Any:
    """BLAS limited to one thread for a CPU factorization. QR and eigh are mostly memory-bound
    BLAS2 steps, and OpenBLAS threads spin while they wait: measured on 2 shared cores, a QR of
    100,000 x 200 took 0.8 s on one thread and 9-14 s on two; eigh of 4096 x 4096, 3.4 s and 44 s."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def thin_qr(xp: ModuleType, a: Any) -> tuple[Any, Any]:
    """Thin Householder QR of a tall matrix. On the CPU through SciPy on a Fortran-ordered copy:
    numpy.linalg.qr is 4x slower on these shapes (100,000 x 200 float32: 5.4 s against 1.25 s)."""
    if xp is np:
        from scipy.linalg import qr

        with _one_lapack_thread():
            return qr(np.asfortranarray(a), mode="economic", overwrite_a=True, check_finite=False)
    return xp.linalg.qr(a, mode="reduced")


def orthonormalize(xp: ModuleType, a: Any) -> Any:
    """Q of the thin QR of a tall matrix: the normalization that keeps power iterations stable."""
    return thin_qr(xp, a)[0]


def top_eigh(xp: ModuleType, g: Any, k: int) -> tuple[Any, Any]:
    """The k largest eigenpairs of a symmetric matrix, largest first.

    Solved in float32: the tridiagonal reduction is memory-bound and float32 halves it (N = 4096:
    4 s instead of 12 s on one core), and for the top k the error stays near eps·λ₁/gap."""
    n = g.shape[0]
    g32 = g.astype(xp.float32)
    if xp is np:  # LAPACK's subset driver computes only the k vectors asked for
        from scipy.linalg import eigh

        with _one_lapack_thread():
            values, vectors = eigh(g32.T, subset_by_index=[n - k, n - 1], driver="evr", overwrite_a=True,
                                   check_finite=False)
    else:
        values, vectors = xp.linalg.eigh(g32)
        values, vectors = values[n - k:], vectors[:, n - k:]
    return values[::-1].astype(xp.float64), vectors[:, ::-1]


def standardization_from_moments(xp: ModuleType, count: int, mean: Any, m2: Any,
                                 standardize: bool) -> Standardization:
    """μ and s from merged moments. s is the per-parameter std (ddof=1, like torch.std in the
    reference); a constant parameter gets s = 1, so it stays 0 after centering instead of NaN."""
    var = m2 / max(count - 1, 1)
    if standardize:
        scale = xp.where(var > 0, xp.sqrt(var), 1.0)
        total = float(xp.sum(xp.where(var > 0, count - 1.0, 0.0)))
        inv_scale = (1.0 / scale).astype(xp.float32)
    else:
        scale, total, inv_scale = xp.ones_like(var), float(xp.sum(m2)), None
    host_scale = np.asarray(scale.get() if hasattr(scale, "get") else scale, dtype=np.float32)
    return Standardization(mean.astype(xp.float32), inv_scale, host_scale, total)
