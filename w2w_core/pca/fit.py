"""Fit the PCA: pick the route, run it over the matrix, tidy the result.

Routes are modules with the same two functions, `fit(matrix, config)` and
`planned_passes(config, n, d, column_chunk)`; `ROUTES` maps a method name to its module.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from w2w_core.errors import InputError
from w2w_core.pca import gram, randomized
from w2w_core.pca.backend import to_numpy
from w2w_core.pca.config import PCAConfig
from w2w_core.pca.operator import CountingMatrix, PassRecord, RowMatrix

ROUTES: dict[str, ModuleType] = {"randomized": randomized, "gram": gram}


@dataclass(frozen=True)
class PCAFit:
    """The fitted PCA on the host, in standardized coordinates X̃ = (X - μ) / s."""

    mean: np.ndarray  # μ [d] float32
    scale: np.ndarray  # s [d] float32 (ones when not standardized)
    components: np.ndarray  # V [d, k] float32, orthonormal columns
    singular_values: np.ndarray  # σ [k] float64, decreasing
    explained_variance_ratio: np.ndarray  # σ² / ‖X̃‖_F² [k]
    coef_mean: np.ndarray  # [k] mean of the training coefficients X̃ V (≈ 0: X̃ is centered)
    coef_std: np.ndarray  # [k] their std (ddof=1): the Gaussian the paper samples from
    method: str  # the route that ran
    passes: tuple[PassRecord, ...]  # every pass over the data, in order


# A rough machine model, only to rank the routes: float32 BLAS speed, and how fast a pass reads,
# decodes and standardizes rows (measured on one core here: ~90 GFLOP/s and ~0.5-1 GB/s).
GEMM_FLOPS_PER_S = 1e11
PASS_BYTES_PER_S = 1e9
TYPICAL_ADAPTIVE_ITER = 3  # power iterations an adaptive fit typically runs on slowly decaying spectra


def estimated_seconds(method: str, config: PCAConfig, n: int, d: int) -> float:
    """Rough cost of a route: floating-point work plus one read of X [n, d] per pass."""
    read = n * d * 4 / PASS_BYTES_PER_S
    if method == "gram":  # syrk of G, eigh (memory-bound: ~5 N³ GEMM-equivalents), the components
        flops = n * n * d + 5.0 * n**3 + 2.0 * n * d * config.k
        return flops / GEMM_FLOPS_PER_S + 2 * read  # the slabs read X once between them (chunked stores)
    iterations = config.n_power_iter if config.n_power_iter is not None else TYPICAL_ADAPTIVE_ITER
    width, products = randomized.sketch_size(config, n, d), 2 * iterations + 2  # width: l = k + p sketch columns
    flops = products * 2.0 * n * d * width + products * 4.0 * (n + d) * width * width  # products and their QRs
    return flops / GEMM_FLOPS_PER_S + (products + 1) * read


def choose_method(config: PCAConfig, n: int, d: int) -> str:
    """The route for `config.method == "auto"`: the exact Gram route when its N x N matrix stays
    under `gram_max_rows` and it is estimated no slower than the randomized route."""
    if config.method != "auto":
        return config.method
    if n <= config.gram_max_rows and (estimated_seconds("gram", config, n, d)
                                      <= estimated_seconds("randomized", config, n, d)):
        return "gram"
    return "randomized"


def planned_passes(config: PCAConfig, matrix: RowMatrix) -> int:
    """Passes the fit of `matrix` will make (at most: adaptive power iterations may stop sooner)."""
    n, d = matrix.n_rows, matrix.n_cols
    return ROUTES[choose_method(config, n, d)].planned_passes(config, n, d, matrix.column_chunk)


def _flip_signs(components: np.ndarray, coefficients: np.ndarray) -> None:
    """Make each component's largest-magnitude entry positive (in place), so fits are comparable."""
    rows = np.argmax(np.abs(components), axis=0)
    signs = np.sign(components[rows, np.arange(components.shape[1])])
    signs[signs == 0] = 1
    components *= signs
    coefficients *= signs


def fit_pca(matrix: RowMatrix, config: PCAConfig,
            on_pass: Callable[[PassRecord], None] | None = None) -> PCAFit:
    """PCA of the rows of `matrix`, reading it only in passes (reported to `on_pass`)."""
    n, d = matrix.n_rows, matrix.n_cols
    if not 1 <= config.k <= min(n - 1, d):
        raise InputError(f"k={config.k} components need at least k + 1 rows and k parameters; the "
                         f"matrix has {n} rows and {d} parameters: lower k or add rows")
    method = choose_method(config, n, d)
    counting = CountingMatrix(matrix, on_pass)
    result = ROUTES[method].fit(counting, config)
    components, coefficients = to_numpy(result.components), to_numpy(result.coefficients)
    _flip_signs(components, coefficients)
    s = to_numpy(result.singular_values).astype(np.float64)
    std = result.standardization
    return PCAFit(
        mean=to_numpy(std.center).astype(np.float32), scale=std.scale, components=components,
        singular_values=s, explained_variance_ratio=s**2 / max(std.total_variance, 1e-300),
        coef_mean=coefficients.mean(axis=0, dtype=np.float64),
        coef_std=coefficients.std(axis=0, ddof=1, dtype=np.float64),
        method=method, passes=tuple(counting.records),
    )
