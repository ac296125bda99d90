"""The w2w space: a linear subspace of LoRA weight vectors (arXiv 2406.09413, Sec. 3).

Each fine-tuned identity is a flattened weight vector θ ∈ R^d. The space is
the top-k principal components of N such vectors, after standardizing every
parameter as the reference implementation does:

    θ̃ = (θ - μ) / s                      per-parameter standardization
    β = θ̃ V                              project: coefficients in the space (Sec. 3)
    θ ≈ (β Vᵀ) ⊙ s + μ                   reconstruct: θ = Σ_i β_i v_i, mapped back
    β_i ~ N(m_i, σ_i²) independently     sample: a new identity (Sec. 4.1); m, σ are the mean
                                         and std of the training coefficients

Pure NumPy; a CuPy input gets CuPy results (the space's arrays are copied to
the device). The fit itself lives in w2w_core/pca.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from w2w_core.errors import InputError, LayoutMismatchError
from w2w_core.pca.backend import array_module_of
from w2w_core.pca.fit import PCAFit


@dataclass(frozen=True, eq=False)
class Space:
    """A fitted w2w space; arrays on the host, read-only in spirit (never modified in place)."""

    mean: np.ndarray  # μ [d] float32: per-parameter mean of the rows fit
    std: np.ndarray  # s [d] float32: per-parameter std (ddof=1) if standardized, else ones
    components: np.ndarray  # V [d, k] float32: orthonormal columns in standardized coordinates
    singular_values: np.ndarray  # [k] float64, decreasing
    explained_variance_ratio: np.ndarray  # [k] float64: σ_i² / total variance of the rows fit
    coef_mean: np.ndarray  # [k] float64: mean of the training coefficients (≈ 0, the data are centered)
    coef_std: np.ndarray  # [k] float64: std (ddof=1) of the training coefficients, for sampling
    row_ids: np.ndarray  # [N] int64: the store rows the space was fit on
    fit_config: dict[str, Any] = field(default_factory=dict)  # JSON-able: method, k, passes, store...

    @property
    def n_params(self) -> int:
        return int(self.components.shape[0])

    @property
    def k(self) -> int:
        return int(self.components.shape[1])

    def __post_init__(self) -> None:
        d, k = self.components.shape
        for name, shape in (("mean", (d,)), ("std", (d,)), ("singular_values", (k,)),
                            ("explained_variance_ratio", (k,)), ("coef_mean", (k,)), ("coef_std", (k,))):
            if getattr(self, name).shape != shape:
                raise LayoutMismatchError(f"space field {name} has shape {getattr(self, name).shape}, "
                                          f"expected {shape} for components of shape {(d, k)}")


PAPER_K = 1000  # components the paper keeps for editing and sampling (Sec. 3)


def default_k(n_models: int) -> int:
    """Components of a space fit on `n_models` rows when none is asked for: the paper's 1,000, or all
    that N models hold (N - 1 after centering) when there are fewer."""
    return int(max(1, min(PAPER_K, n_models - 1)))


def check_m(m: int, k: int, flag: str = "m") -> int:
    """`m`, the leading components a fit, an edit or an inversion uses, refused when the space has fewer
    than that (the one place this policy is written: the CLI, the flows and the library all call it)."""
    if not 1 <= m <= k:
        raise InputError(f"{flag}={m} components, but the space has {k}: choose 1 <= {flag} <= {k}, "
                         f"or fit a space with k >= {m}")
    return m


def space_from_fit(fit: PCAFit, row_ids: np.ndarray, fit_config: dict[str, Any]) -> Space:
    """The space of a finished PCA fit on the store rows `row_ids`."""
    return Space(mean=fit.mean, std=fit.scale, components=fit.components,
                 singular_values=fit.singular_values, explained_variance_ratio=fit.explained_variance_ratio,
                 coef_mean=fit.coef_mean, coef_std=fit.coef_std,
                 row_ids=np.asarray(row_ids, dtype=np.int64), fit_config=dict(fit_config))


def _on(xp: Any, array: np.ndarray) -> Any:
    return array if xp is np else xp.asarray(array)


def _as_rows(array: Any, width: int, what: str, error: type[Exception]) -> tuple[Any, bool]:
    """`array` as 2-D [n, width] (a single 1-D vector becomes one row), with a clear error if not."""
    single = getattr(array, "ndim", None) == 1
    rows = array[None, :] if single else array
    if getattr(rows, "ndim", None) != 2 or rows.shape[1] != width:
        raise error(f"{what} must have shape [n, {width}] or [{width}], got "
                    f"{getattr(array, 'shape', type(array).__name__)}")
    return rows, single


def project(space: Space, vectors: Any) -> Any:
    """Coefficients β [n, k] of weight vectors [n, d] (or [k] for one vector [d]): β = ((θ - μ)/s) V."""
    rows, single = _as_rows(vectors, space.n_params, "weight vectors to project (from the space's "
                            "LoRA layout)", LayoutMismatchError)
    xp = array_module_of(rows)
    standardized = (rows - _on(xp, space.mean)) / _on(xp, space.std)
    coefficients = standardized @ _on(xp, space.components)
    return coefficients[0] if single else coefficients


def reconstruct(space: Space, coefficients: Any) -> Any:
    """Weight vectors [n, d] from coefficients [n, k] (or one [k]): θ = (β Vᵀ) ⊙ s + μ."""
    rows, single = _as_rows(coefficients, space.k, "coefficients", InputError)
    xp = array_module_of(rows)
    vectors = (rows @ _on(xp, space.components).T) * _on(xp, space.std) + _on(xp, space.mean)
    return vectors[0] if single else vectors


def sample_coefficients(space: Space, n: int, rng: np.random.Generator, spread: float = 1.0,
                        m: int | None = None) -> np.ndarray:
    """n draws of β_i ~ N(m_i, (spread·σ_i)²), independent per component (Sec. 4.1), for the first
    m components (default all); the others stay at their mean. `spread` scales every std (the
    reference's `factor`; 1.0 is the paper's setting)."""
    m = space.k if m is None else m
    if n < 0 or spread < 0 or not 1 <= m <= space.k:
        raise InputError(f"need n >= 0 samples, spread >= 0 and 1 <= m <= {space.k}; got n={n}, "
                         f"spread={spread}, m={m}")
    draws = np.tile(space.coef_mean, (n, 1))
    draws[:, :m] = rng.normal(space.coef_mean[:m], spread * space.coef_std[:m], size=(n, m))
    return draws


def sample(space: Space, n: int, rng: np.random.Generator, spread: float = 1.0, m: int | None = None) -> np.ndarray:
    """n new identities' weight vectors [n, d] sampled from the space (Sec. 4.1)."""
    return reconstruct(space, sample_coefficients(space, n, rng, spread, m).astype(np.float32))


def truncate(space: Space, k: int) -> Space:
    """The same space keeping only its first k components."""
    if not 1 <= k <= space.k:
        raise InputError(f"cannot truncate a space of {space.k} components to k={k}: "
                         f"choose 1 <= k <= {space.k}")
    return replace(space, components=space.components[:, :k], singular_values=space.singular_values[:k],
                   explained_variance_ratio=space.explained_variance_ratio[:k],
                   coef_mean=space.coef_mean[:k], coef_std=space.coef_std[:k],
                   fit_config={**space.fit_config, "truncated_to": k})


def summary(space: Space, milestones: tuple[int, ...] = (1, 10, 100, 1000, 10000)) -> dict[str, Any]:
    """How much of the rows' variance the space explains: totals, cumulative at a few k, top σ."""
    cumulative = np.cumsum(space.explained_variance_ratio)
    at = {k: float(cumulative[k - 1]) for k in milestones if k <= space.k}
    at.setdefault(space.k, float(cumulative[-1]))
    return {"k": space.k, "n_params": space.n_params, "n_rows": int(len(space.row_ids)),
            "method": space.fit_config.get("method"), "standardized": space.fit_config.get("standardize"),
            "explained_variance": float(cumulative[-1]), "cumulative_explained_variance": at,
            "top_singular_values": [float(s) for s in space.singular_values[:10]]}
