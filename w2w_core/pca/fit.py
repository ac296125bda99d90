"""Fit the PCA: pick the route, run it over the matrix, tidy the result.

Routes are modules with the same two functions, `fit(matrix, config)` and
`planned_passes(config, n, d)`; `ROUTES` maps a method name to its module.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

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


def estimated_flops(method: str, config: PCAConfig, n: int, d: int) -> float:
    """Rough multiply-add count of a route, to choose between them."""
    if method == "gram":  # syrk of G + eigh + the components pass
        return n * n * d + 4.0 * n**3 + 2.0 * n * d * config.k
    l = randomized.sketch_size(config, n, d)  # 2q + 2 products with [d, l] or [N, l], plus the QRs
    return (2 * config.power_iter + 2) * 2.0 * n * d * l + (2 * config.power_iter + 2) * 2.0 * (n + d) * l * l


def choose_method(config: PCAConfig, n: int, d: int) -> str:
    """The route for `config.method == "auto"`: the exact Gram route when its N x N matrix stays
    under `gram_max_rows` and it costs no more than the randomized route."""
    if config.method != "auto":
        return config.method
    if n <= config.gram_max_rows and estimated_flops("gram", config, n, d) <= estimated_flops(
            "randomized", config, n, d):
        return "gram"
    return "randomized"


def planned_passes(config: PCAConfig, n: int, d: int) -> int:
    return ROUTES[choose_method(config, n, d)].planned_passes(config, n, d)


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
