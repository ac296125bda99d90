"""The space's coefficients as a linear function of the attribute labels, plus Gaussian noise.

    β = b_0 + Σ_a y_a b_a + ε,    ε_i ~ N(0, r_i²) independently per component

fit by least squares on the training models (β [N, k], labels y [N, A]). b_a
is the average change in coefficients that comes with attribute a, the other
attributes held fixed: `mean_shift` directions use it (w2w_core/directions).

Sampling from it (not in the paper, whose Sec. 3.2 draws every β_i
independently from N(mean_i, std_i²)) first draws a label vector from the
training models' own (so the attributes come in the training set's joint
frequencies), then its conditional mean plus fresh noise ε: a new identity,
since ε is new, that has the attributes it was drawn with.

Gaussian ε loses what the training residuals hold beyond their per-component
spread: the principal coefficients are uncorrelated but not independent, and
the probe reads glasses, beards and youth in far fewer independently drawn
models than in training models (benchmarks/sampling.py). Mixing keeps it:
ε is the normalised sum (r_1 + ... + r_q) / sqrt(q) of the residuals of q
training models with the drawn label vector. Its per-component variance is
the residuals', it is none of the q models, and as q grows it tends to the
Gaussian; q = 2 keeps the most structure.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from w2w_core.errors import InputError


@dataclass(frozen=True, eq=False)
class AttributeModel:
    """β ≈ b_0 + y B + ε, fit on training models."""

    intercept: np.ndarray  # b_0 [k]
    shifts: np.ndarray  # B [A, k]: zero rows for labels that never vary
    residual_std: np.ndarray  # r [k]: std (ddof=1) of what the labels do not explain, per component
    label_rows: np.ndarray  # [N, A] bool: the training models' labels, drawn from when sampling


def label_regression(coefficients: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(b_0 [k], B [A, k]): least squares of the coefficients on all labels at once; rows of B are zero
    where a label never varies (nothing to learn from)."""
    beta = np.asarray(coefficients, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    if labels.ndim != 2 or len(labels) != len(beta):
        raise InputError(f"labels of shape {labels.shape} do not fit {len(beta)} models' coefficients")
    varies = labels.any(axis=0) & ~labels.all(axis=0)
    design = np.column_stack([np.ones(len(beta)), labels[:, varies].astype(np.float64)])
    fit, *_ = np.linalg.lstsq(design, beta, rcond=None)
    shifts = np.zeros((labels.shape[1], beta.shape[1]))
    shifts[varies] = fit[1:]
    return fit[0], shifts


def fit_attribute_model(coefficients: np.ndarray, labels: np.ndarray) -> AttributeModel:
    """The attribute model of training coefficients [N, k] and their labels bool [N, A]."""
    if len(coefficients) < 2:
        raise InputError(f"need at least 2 training models to fit the attribute model, got {len(coefficients)}")
    intercept, shifts = label_regression(coefficients, labels)
    labels = np.array(labels, dtype=bool)  # a copy: the model keeps it
    residuals = np.asarray(coefficients, np.float64) - intercept - labels @ shifts
    return AttributeModel(intercept, shifts, residuals.std(axis=0, ddof=1), labels)


def sample_with_attributes(model: AttributeModel, n: int, rng: np.random.Generator, spread: float = 1.0,
                           m: int | None = None, contrast: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(β [n, k], labels [n, A]): n label vectors drawn from the training models', each with its
    conditional mean and noise ε_i ~ N(0, (spread·r_i)²) on the first m components (default all;
    the others get no noise). `contrast` scales each label vector's shift away from the mean label
    vector's: b_0 + ȳB + contrast·(y - ȳ)B, so 1 is the fitted model and more makes the attributes
    stand out (a shift of 1 is a small move; see the module)."""
    m = _checked_m(model, n, spread, m, contrast)
    labels = model.label_rows[rng.integers(len(model.label_rows), size=n)]
    beta = _conditional_means(model, labels, contrast)
    beta[:, :m] += rng.normal(0.0, 1.0, size=(n, m)) * (spread * model.residual_std[:m])
    return beta, labels


def sample_by_mixing(model: AttributeModel, coefficients: np.ndarray, n: int, rng: np.random.Generator, mix: int = 2,
                     spread: float = 1.0, m: int | None = None, contrast: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(β [n, k], labels [n, A]) as `sample_with_attributes`, but ε = spread · (r_1 + ... + r_mix) / sqrt(mix):
    the residuals of the drawn training model and of mix - 1 others with its label vector (the nearest label
    vectors where too few share it), on the first m components. `coefficients` [N, k]: the training models'
    coefficients that `model` was fit on."""
    if mix < 2:
        raise InputError(f"need mix >= 2 training models (1 would copy one), got mix={mix}")
    m = _checked_m(model, n, spread, m, contrast)
    k = len(model.intercept)
    if coefficients.shape != (len(model.label_rows), k):
        raise InputError(f"coefficients of shape {coefficients.shape} are not the {len(model.label_rows)} x {k} "
                         "training models the attribute model was fit on")
    if mix > len(coefficients):
        raise InputError(f"cannot mix {mix} training models: there are {len(coefficients)}")
    drawn = rng.integers(len(model.label_rows), size=n)
    labels = model.label_rows[drawn]
    beta = _conditional_means(model, labels, contrast)
    for row, first in enumerate(drawn):
        mixed = np.concatenate([[first], _same_labels(model.label_rows, first, mix - 1, rng)])
        own_means = _conditional_means(model, model.label_rows[mixed])
        residuals = np.asarray(coefficients[mixed, :m], np.float64) - own_means[:, :m]
        beta[row, :m] += spread * residuals.sum(axis=0) / np.sqrt(mix)
    return beta, labels


def _checked_m(model: AttributeModel, n: int, spread: float, m: int | None, contrast: float) -> int:
    """m (default: every component), once n, spread, contrast and m are known to make sense."""
    k = len(model.intercept)
    m = k if m is None else m
    if n < 0 or spread < 0 or contrast < 0 or not 1 <= m <= k:
        raise InputError(f"need n >= 0 samples, spread >= 0, contrast >= 0 and 1 <= m <= {k}; got n={n}, "
                         f"spread={spread}, contrast={contrast}, m={m}")
    return m


def _conditional_means(model: AttributeModel, labels: np.ndarray, contrast: float = 1.0) -> np.ndarray:
    """b_0 + ȳB + contrast·(y - ȳ)B for each label vector y [n, A]: the fitted model at contrast 1."""
    mean_labels = model.label_rows.mean(axis=0)
    return model.intercept + (mean_labels + contrast * (labels - mean_labels)) @ model.shifts


def _same_labels(label_rows: np.ndarray, row: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` other training models with the label vector of `row`, drawn at random; where fewer share it,
    all of those and then the nearest label vectors (fewest labels differing)."""
    differing = (label_rows != label_rows[row]).sum(axis=1)
    differing[row] = label_rows.shape[1] + 1  # never the model itself
    same = np.flatnonzero(differing == 0)
    if len(same) >= count:
        return rng.choice(same, count, replace=False)
    return np.argsort(differing, kind="stable")[:count]
