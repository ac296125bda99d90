"""How to fit the w2w space: the PCA's settings, one frozen dataclass."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from w2w_core.errors import InputError

METHODS = ("auto", "randomized", "gram")


@dataclass(frozen=True)
class PCAConfig:
    """Settings of one fit. The defaults aim at accuracy first (see DEFAULT_* below)."""

    k: int  # components to keep (the paper keeps 1,000 for sampling/editing, 10,000 for inversion)
    method: str = "auto"  # "randomized", "gram" (exact, via the N x N Gram matrix) or "auto" by size
    standardize: bool = True  # divide each parameter by its std, as the reference implementation does
    n_oversamples: int | None = None  # randomized: sketch columns beyond k; None -> default_oversamples(k)
    n_power_iter: int | None = None  # randomized: exactly this many power iterations; None: adaptive
    tol: float = 1e-2  # adaptive: stop once no top-k Ritz value moved more than this (relative)
    min_power_iter: int = 1  # adaptive: at least this many power iterations
    max_power_iter_auto: int = 6  # adaptive: at most this many
    seed: int = 0  # seed of the random test matrix Ω (same on NumPy and CuPy)
    gram_max_rows: int = 8192  # "auto" never picks gram above this N (the N x N matrix is 8 N² bytes)
    gram_slab_bytes: int = 512 * 2**20  # gram: float32 bytes of one column slab [N, w] held at once

    def __post_init__(self) -> None:
        if self.k < 1:
            raise InputError(f"k must be at least 1, got {self.k}")
        if self.method not in METHODS:
            raise InputError(f"unknown PCA method {self.method!r}: choose one of {', '.join(METHODS)}")
        if self.n_oversamples is not None and self.n_oversamples < 0:
            raise InputError(f"n_oversamples must be >= 0, got {self.n_oversamples}")
        if self.n_power_iter is not None and self.n_power_iter < 0:
            raise InputError(f"n_power_iter must be >= 0, got {self.n_power_iter}")
        if not 0 <= self.min_power_iter <= self.max_power_iter_auto or self.tol <= 0:
            raise InputError("adaptive power iterations need 0 <= min_power_iter <= max_power_iter_auto and "
                             f"tol > 0, got {self.min_power_iter}, {self.max_power_iter_auto}, {self.tol}")

    @property
    def oversamples(self) -> int:
        return default_oversamples(self.k) if self.n_oversamples is None else self.n_oversamples

    @property
    def max_power_iter(self) -> int:
        """The most power iterations a fit may run (all of them when n_power_iter is fixed)."""
        return self.max_power_iter_auto if self.n_power_iter is None else self.n_power_iter

    def as_dict(self) -> dict[str, Any]:
        """JSON-able settings with the defaults resolved (stored in the space's fit_config)."""
        return {**asdict(self), "n_oversamples": self.oversamples}


# Measured on slowly decaying spectra (issue 4): 10 oversamples lose up to 12 % on the top-100
# singular values, 100 lose 2 %; power iterations (each one QR-normalized) shrink the error
# geometrically in σ_{k+p}/σ_k. See tests/w2w_core/pca and benchmarks/pca.py for the numbers.
MIN_OVERSAMPLES = 100


def default_oversamples(k: int) -> int:
    """max(100, k/2): generous, because sketch columns are cheap next to extra passes."""
    return max(MIN_OVERSAMPLES, k // 2)
