"""Attribute directions in the w2w space, and editing an identity model along them (arXiv 2406.09413, Sec. 3.3).

A direction is a unit vector u_a in the coefficients of the space's first m
principal components, found from the training models' coefficients β [N, m]
and their binary labels y_a:

    w_a = pinv(β) (y_a - mean y_a)          least squares (the paper's default)
    w_a = logistic-regression weights        (scikit-learn; an option)
    u_a = w_a / |w_a|

or, the other way round, the change in coefficients that comes with the
attribute (`mean_shift`, not in the paper): regress β on all the labels at
once, β ≈ b_0 + Σ_a y_a b_a, and take u_a = b_a / |b_a|. b_a is the mean
difference between models with and without attribute a, the other attributes
held fixed, so it is debiased by construction, and it inverts only the
labels' [A, A] covariance, not the coefficients' [m, m], which the
least-squares direction does and which amplifies noise in the small
components as m grows.

Debiasing removes from u_a its projection on other attributes' directions,
one at a time as the reference does (`sequential`), or the whole span of them
at once (`joint`). An edit of strength α moves any model θ (a store row, a LoRA
file, a sample) along u_a, scaled by the largest training projection on u_a:

    Δβ = α · unit_a · u_a,   θ' = θ + (Δβ V_mᵀ) ⊙ s       (unit_a = max_i |β_i · u_a|)

so α = 1 moves a model as far as the farthest training model lies along the
attribute; for `mean_shift`, unit_a = |b_a|, so α = 1 is the average difference
the attribute makes. θ itself is not projected onto the space: what the space does not
hold of an identity stays.

Neither raw unit says what a user sees: on the embedded zoo an edit showed only at
α = 3-6. Calibration (`calibrated`, measured by tasks/calibration.py with the probe)
rescales unit_a so that α = 1 is the edit that flips the attribute on a typical
training model: the smallest strength at which the probe's reading turns to the
value the model lacked on at least half of the models tried.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from w2w_core.attribute_model import label_regression
from w2w_core.errors import InputError, LayoutMismatchError
from w2w_core.space import Space, check_m

METHODS = ("least_squares", "logistic", "mean_shift")
DEBIAS_MODES = ("sequential", "joint")
MAX_STRENGTH = 20.0  # |α| beyond this leaves the space's data far behind: refused as a mistake


@dataclass(frozen=True)
class DirectionsConfig:
    """How directions are fit."""

    m: int | None = None  # leading components used; None: default_m(number of models)
    method: str = "least_squares"  # "least_squares" (paper), "logistic" or "mean_shift" (see the module)
    debias: tuple[str, ...] = ()  # attributes whose directions are removed from every other one
    debias_mode: str = "sequential"  # "sequential" (one at a time, the reference) or "joint" (their span)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"unknown direction method {self.method!r}: choose one of {', '.join(METHODS)}")
        if self.debias_mode not in DEBIAS_MODES:
            raise InputError(f"unknown debias mode {self.debias_mode!r}: choose one of {', '.join(DEBIAS_MODES)}")
        if self.m is not None and self.m < 1:
            raise InputError(f"m must be at least 1, got {self.m}")


def default_m(n_models: int, k: int) -> int:
    """Components for directions when not given: about N/5, at most the space's k and the paper's 1,000.

    Few components are too coarse and many entangle attributes; the best m grows with
    the number of models (paper: 1,000 for 65k models; measured here on the zoo).
    """
    return int(max(1, min(k, 1000, n_models // 5)))


@dataclass(frozen=True, eq=False)
class Directions:
    """Unit attribute directions in the first m coefficients of one space."""

    names: tuple[str, ...]
    vectors: np.ndarray  # u [A, m] float64, unit rows
    unit: np.ndarray  # [A] the move of α = 1: the largest |training projection| (mean_shift: |b_a|)
    m: int
    method: str
    debias: tuple[str, ...]
    debias_mode: str
    space_fingerprint: str  # the space they were fit on (an edit checks it)
    calibration: dict[str, Any] | None = None  # how unit was rescaled so that α = 1 flips (None: the raw unit)

    def index(self, name: str) -> int:
        if name not in self.names:
            raise InputError(f"no direction for attribute {name!r}: the directions have {', '.join(self.names)}")
        return self.names.index(name)


def fit_directions(coefficients: np.ndarray, labels: np.ndarray, names: Sequence[str], space: Space,
                   config: DirectionsConfig = DirectionsConfig()) -> Directions:
    """One direction per attribute from the training models' coefficients [N, k] and labels bool [N, A]."""
    n, k = coefficients.shape
    m = config.m if config.m is not None else default_m(n, space.k)
    check_m(m, min(space.k, k))
    if labels.shape != (n, len(names)):
        raise InputError(f"labels of shape {labels.shape} do not fit {n} models x {len(names)} attributes")
    unknown = [a for a in config.debias if a not in names]
    if unknown:
        raise InputError(f"cannot debias against {unknown}: the store's attributes are {', '.join(names)}")
    beta = np.asarray(coefficients[:, :m], dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    if config.method == "mean_shift":
        _, raw = label_regression(beta, labels)  # the shifts b_a
    else:
        raw = np.stack([_direction(beta, labels[:, a], config.method) for a in range(len(names))])
    vectors = _debiased(_unit_rows(raw), list(names), config)
    if config.method == "mean_shift":  # α = 1: the attribute's average difference, along the (debiased) direction
        unit = np.abs(np.einsum("am,am->a", raw, vectors))
    else:
        unit = np.abs(beta @ vectors.T).max(axis=0)
    return Directions(tuple(names), vectors, unit, m, config.method, tuple(config.debias), config.debias_mode,
                      space_fingerprint(space))


def _direction(beta: np.ndarray, y: np.ndarray, method: str) -> np.ndarray:
    """The weights that predict label y from coefficients β, not normalised (zero if y never varies)."""
    if y.all() or not y.any():
        return np.zeros(beta.shape[1])
    if method == "least_squares":
        return np.linalg.pinv(beta) @ (y - y.mean())
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000).fit(beta, y).coef_[0]


def _unit_rows(rows: np.ndarray) -> np.ndarray:
    """Each row divided by its norm; zero rows (a label that never varies) stay zero."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)


def _debiased(raw: np.ndarray, names: list[str], config: DirectionsConfig) -> np.ndarray:
    """Each direction with the debias set's directions removed (never from themselves), renormalised."""
    removed = [names.index(a) for a in config.debias]
    out = raw.copy()
    for a in range(len(names)):
        others = [raw[b] for b in removed if b != a and np.linalg.norm(raw[b]) > 0]
        if not others:
            continue
        if config.debias_mode == "sequential":
            for d in others:  # the reference's order: one projection at a time
                out[a] = out[a] - (out[a] @ d) / (d @ d) * d
        else:
            basis, _ = np.linalg.qr(np.stack(others, axis=1))
            out[a] = out[a] - basis @ (basis.T @ out[a])
        norm = np.linalg.norm(out[a])
        out[a] = out[a] / norm if norm > 0 else out[a]
    return out


def space_fingerprint(space: Space) -> str:
    """A short id of a fitted space: its size, the rows it was fit on and its leading spectrum."""
    import hashlib

    digest = hashlib.sha256()
    digest.update(np.array([space.n_params, space.k, len(space.row_ids)], np.int64).tobytes())
    digest.update(np.asarray(space.row_ids, np.int64).tobytes())
    digest.update(np.round(np.asarray(space.singular_values[:16], np.float64), 6).tobytes())
    digest.update(np.ascontiguousarray(space.mean, np.float32).tobytes())
    digest.update(np.ascontiguousarray(space.components[:, 0], np.float32).tobytes())
    return digest.hexdigest()[:16]


FLIP_TARGET = 0.5  # calibration: α = 1 flips the attribute on at least this share of the models tried


def strength_to_flip(strengths: Sequence[float], flip_rates: Sequence[float],
                     target: float = FLIP_TARGET) -> tuple[float, bool]:
    """(the smallest strength whose flip rate reaches `target`, whether any did), read along a sweep of
    increasing strengths with linear interpolation between the two strengths around the crossing.
    When no strength of the sweep reaches it: the one that flipped most, and False."""
    strengths, rates = np.asarray(strengths, np.float64), np.asarray(flip_rates, np.float64)
    if len(strengths) != len(rates) or not len(strengths) or np.any(np.diff(strengths) <= 0) or strengths[0] <= 0:
        raise InputError(f"a calibration sweep needs increasing positive strengths, one flip rate each; got "
                         f"{list(strengths)} and {list(rates)}")
    reached = np.flatnonzero(rates >= target)
    if not len(reached):
        return float(strengths[np.argmax(rates)]), False
    i = int(reached[0])
    if i == 0:
        return float(strengths[0]), True
    below, above = rates[i - 1], rates[i]
    share = (target - below) / (above - below)
    return float(strengths[i - 1] + share * (strengths[i] - strengths[i - 1])), True


def calibrated(directions: Directions, sweeps: Mapping[str, Sequence[float]], strengths: Sequence[float],
               models: int, target: float = FLIP_TARGET) -> Directions:
    """The directions with unit_a rescaled so that α = 1 is the strength (in the raw unit) at which the
    flip rates `sweeps[a]`, measured at `strengths` on `models` models, first reach `target`.
    Attributes without a sweep keep their raw unit and are recorded as not calibrated."""
    unit, record = directions.unit.copy(), {"target_flip_rate": target, "models": models,
                                            "raw_strengths": [float(s) for s in strengths], "attributes": {}}
    for name, rates in sweeps.items():
        strength, reached = strength_to_flip(strengths, rates, target)
        unit[directions.index(name)] *= strength
        record["attributes"][name] = {"raw_strength": strength, "reached": reached,
                                      "flip_rates": [float(r) for r in rates]}
    return replace(directions, unit=unit, calibration=record)


def with_calibration_of(directions: Directions, reference: Directions) -> Directions:
    """`directions` with the raw strengths `reference` measured: for directions refit on nearly the same
    models (a run's store that starts as the zoo and adds a few identities), whose raw units are the same
    measure, so measuring again would cost minutes of generation for the same answer. The record says
    where it came from; attributes `reference` did not calibrate keep their raw unit."""
    if reference.calibration is None:
        return directions
    shared = {n: e for n, e in reference.calibration["attributes"].items() if n in directions.names}
    unit = directions.unit.copy()
    for name, entry in shared.items():
        unit[directions.index(name)] *= entry["raw_strength"]
    record = {**reference.calibration, "attributes": shared, "measured_on": reference.space_fingerprint}
    return replace(directions, unit=unit, calibration=record)


def unit_meaning(directions: Directions) -> str:
    """What strength 1 means for these directions, in a few words (for help, errors and captions)."""
    if directions.calibration is not None:
        return (f"1: the edit that flips the attribute on {directions.calibration['target_flip_rate']:.0%} of "
                "training models")
    if directions.method == "mean_shift":
        return "1: the attribute's average difference"
    return "1: as far as the farthest training model"


def check_strengths(edits: Mapping[str, float]) -> dict[str, float]:
    """The edits as {attribute: finite strength}, refusing NaN, infinities and absurd values."""
    checked = {}
    for name, value in edits.items():
        try:
            strength = float(value)
        except (TypeError, ValueError) as err:
            raise InputError(f"edit strength for {name!r} must be a number, got {value!r}") from err
        if not np.isfinite(strength) or abs(strength) > MAX_STRENGTH:
            raise InputError(f"edit strength for {name!r} is {value!r}: use a finite number within "
                             f"+-{MAX_STRENGTH:g}")
        checked[name] = strength
    return checked


def edit_delta(space: Space, directions: Directions, edits: Mapping[str, float]) -> np.ndarray:
    """Δθ [d] that adds every (attribute, strength) edit: (Σ α_a unit_a u_a) V_mᵀ ⊙ s."""
    if directions.space_fingerprint != space_fingerprint(space):
        raise LayoutMismatchError("these directions were fit on another space than the one given: refit "
                                  "them on this space (`w2w directions fit`)")
    strengths = check_strengths(edits)
    delta_beta = np.zeros(directions.m)
    for name, alpha in strengths.items():
        i = directions.index(name)
        delta_beta += alpha * directions.unit[i] * directions.vectors[i]
    return ((delta_beta @ space.components[:, :directions.m].T.astype(np.float64)) * space.std).astype(np.float32)


def edit(theta: np.ndarray, space: Space, directions: Directions, edits: Mapping[str, float]) -> np.ndarray:
    """θ' = θ + Δθ: the model with every edit applied (strength 0 returns θ unchanged)."""
    theta = np.asarray(theta, dtype=np.float32)
    if theta.shape != (space.n_params,):
        raise LayoutMismatchError(f"the model has {theta.shape} weights, the space's layout has {space.n_params}: "
                                  "was it trained on another base model or LoRA layout?")
    return theta + edit_delta(space, directions, edits)


def directions_summary(directions: Directions) -> dict[str, Any]:
    """JSON-able: which attributes, how many components, how fit, how far apart the directions lie."""
    cosines = directions.vectors @ directions.vectors.T
    return {"attributes": list(directions.names), "m": directions.m, "method": directions.method,
            "debias": list(directions.debias), "debias_mode": directions.debias_mode,
            "unit": dict(zip(directions.names, map(float, directions.unit))), "strength_1": unit_meaning(directions),
            "calibrated": _calibrated_names(directions),
            "max_abs_cosine_between": (float(np.max(np.abs(cosines - np.diag(np.diag(cosines)))))
                                       if len(cosines) > 1 else 0.0)}


def _calibrated_names(directions: Directions) -> dict[str, bool]:
    """Per calibrated attribute: whether its sweep reached the target flip rate."""
    if directions.calibration is None:
        return {}
    return {name: bool(entry["reached"]) for name, entry in directions.calibration["attributes"].items()}
