"""What a PCA route returns, before the space is built from it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from w2w_core.pca.kernels import Standardization


@dataclass(frozen=True)
class Decomposition:
    """X̃ ≈ C Vᵀ with V orthonormal: the output every route (randomized, gram) produces."""

    standardization: Standardization  # μ, s and ‖X̃‖_F² of the rows fit
    components: Any  # V [d, k] float32 on xp, orthonormal columns, by decreasing σ
    singular_values: Any  # σ [k] float64 on xp
    coefficients: Any  # C = X̃ V [N, k] float32 on xp: the training rows' coordinates in the space
