"""Attribute directions and edits: planted directions come back, debiasing removes what it says, edits move θ as
defined."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from w2w_core.directions import DirectionsConfig, default_m, edit, fit_directions
from w2w_core.errors import InputError, LayoutMismatchError
from w2w_core.space import Space, project

D, K, N = 400, 30, 600


def make_space(seed: int = 0) -> Space:
    rng = np.random.default_rng(seed)
    components, _ = np.linalg.qr(rng.standard_normal((D, K)))
    s = np.linspace(30, 3, K)
    return Space(mean=rng.standard_normal(D).astype(np.float32), std=rng.uniform(0.5, 2, D).astype(np.float32),
                 components=components.astype(np.float32), singular_values=s,
                 explained_variance_ratio=s**2 / np.sum(s**2), coef_mean=np.zeros(K), coef_std=s / np.sqrt(N),
                 row_ids=np.arange(N), fit_config={})


def planted(m: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients [N, K], two attributes read off planted unit directions in the first m, and the directions."""
    rng = np.random.default_rng(seed)
    beta = rng.standard_normal((N, K))
    truth = np.linalg.qr(rng.standard_normal((m, 2)))[0].T  # two orthogonal unit directions in R^m
    labels = np.stack([beta[:, :m] @ t + 0.1 * rng.standard_normal(N) > 0 for t in truth], axis=1)
    return beta, labels, truth


@pytest.mark.parametrize("method", ["least_squares", "logistic"])
def test_a_planted_direction_is_recovered(method):
    space, (beta, labels, truth) = make_space(), planted(m=20)
    directions = fit_directions(beta, labels, ["beard", "glasses"], space, DirectionsConfig(m=20, method=method))
    assert directions.vectors.shape == (2, 20) and np.allclose(np.linalg.norm(directions.vectors, axis=1), 1)
    assert directions.vectors[0] @ truth[0] > 0.97 and directions.vectors[1] @ truth[1] > 0.97
    assert np.allclose(directions.unit, np.abs(beta[:, :20] @ directions.vectors.T).max(axis=0))


def test_debiasing_removes_the_other_directions():
    space = make_space()
    rng = np.random.default_rng(3)
    beta = rng.standard_normal((N, K))
    mix = rng.standard_normal((3, 10))
    labels = np.stack([beta[:, :10] @ w > 0 for w in mix], axis=1)  # three correlated attributes
    names = ["male", "beard", "bald"]
    plain = fit_directions(beta, labels, names, space, DirectionsConfig(m=10))
    joint = fit_directions(beta, labels, names, space,
                           DirectionsConfig(m=10, debias=("male", "bald"), debias_mode="joint"))
    beard, removed = joint.vectors[1], plain.vectors[[0, 2]]
    assert np.abs(removed @ beard).max() < 1e-10  # orthogonal to the span of both removed directions
    male = plain.vectors[0] - (plain.vectors[0] @ plain.vectors[2]) * plain.vectors[2]  # never against itself
    assert np.allclose(joint.vectors[0], male / np.linalg.norm(male))
    sequential = fit_directions(beta, labels, names, space, DirectionsConfig(m=10, debias=("bald",)))
    assert abs(sequential.vectors[1] @ plain.vectors[2]) < 1e-10 and sequential.vectors[2] @ plain.vectors[2] > 0.999


def test_an_edit_of_strength_zero_is_the_same_model_and_others_move_along_the_direction():
    space, (beta, labels, _) = make_space(), planted(m=20)
    directions = fit_directions(beta, labels, ["beard", "glasses"], space, DirectionsConfig(m=20))
    theta = np.random.default_rng(4).standard_normal(D).astype(np.float32)
    assert np.array_equal(edit(theta, space, directions, {"beard": 0.0}), theta)
    moved = edit(theta, space, directions, {"beard": 1.5, "glasses": -0.5})
    delta = project(space, moved) - project(space, theta)  # back in coefficients
    expected = 1.5 * directions.unit[0] * directions.vectors[0] - 0.5 * directions.unit[1] * directions.vectors[1]
    np.testing.assert_allclose(delta[:20], expected, atol=1e-3 * np.abs(expected).max())
    assert np.abs(delta[20:]).max() < 1e-3 * np.abs(expected).max()


def test_bad_edits_and_mismatches_are_refused():
    space, (beta, labels, _) = make_space(), planted(m=20)
    directions = fit_directions(beta, labels, ["beard", "glasses"], space, DirectionsConfig(m=20))
    theta = np.zeros(D, np.float32)
    for bad in (float("nan"), float("inf"), 1e6, "strong"):
        with pytest.raises(InputError, match="strength for 'beard'"):
            edit(theta, space, directions, {"beard": bad})
    with pytest.raises(InputError, match="no direction for attribute 'bald'"):
        edit(theta, space, directions, {"bald": 1.0})
    with pytest.raises(LayoutMismatchError, match="another space"):
        edit(theta, make_space(seed=9), directions, {"beard": 1.0})
    with pytest.raises(LayoutMismatchError, match="weights"):
        edit(np.zeros(D + 1, np.float32), space, directions, {"beard": 1.0})
    with pytest.raises(InputError, match="the space has 30"):
        fit_directions(beta, labels, ["beard", "glasses"], space, DirectionsConfig(m=31))
    with pytest.raises(InputError, match="cannot debias against"):
        fit_directions(beta, labels, ["beard", "glasses"], space, DirectionsConfig(debias=("smile",)))
    with pytest.raises(InputError, match="unknown direction method"):
        replace(DirectionsConfig(), method="svm")


def test_default_m_grows_with_the_models_and_stays_within_the_space():
    assert default_m(200, 199) == 40 and default_m(3000, 1000) == 600 and default_m(65_000, 10_000) == 1000
    assert default_m(3000, 100) == 100 and default_m(3, 2) == 1


def test_mean_shift_directions_are_the_change_that_comes_with_each_attribute():
    space = make_space()
    rng = np.random.default_rng(5)
    male = rng.random(N) < 0.5
    beard = male & (rng.random(N) < 0.6)  # correlated: least squares on β would mix them, the shift does not
    shifts = np.zeros((2, K))
    shifts[0, :2], shifts[1, 2:4] = (3.0, 1.0), (2.0, -2.0)
    beta = np.stack([male, beard], axis=1) @ shifts + 0.5 * rng.standard_normal((N, K))
    directions = fit_directions(beta, np.stack([male, beard], axis=1), ["male", "beard"], space,
                                DirectionsConfig(m=10, method="mean_shift"))
    for a in range(2):
        truth = shifts[a, :10] / np.linalg.norm(shifts[a, :10])
        assert directions.vectors[a] @ truth > 0.99
        # α = 1: the average change
        assert directions.unit[a] == pytest.approx(np.linalg.norm(shifts[a, :10]), rel=0.05)


def test_strength_to_flip_reads_the_first_crossing_of_the_target_along_the_sweep():
    from w2w_core.directions import strength_to_flip

    strengths = [1.0, 2.0, 4.0, 8.0]
    assert strength_to_flip(strengths, [0.0, 0.25, 0.75, 1.0]) == (3.0, True)  # half-way between 2 and 4
    assert strength_to_flip(strengths, [0.5, 0.6, 0.9, 1.0]) == (1.0, True)  # reached at once
    assert strength_to_flip(strengths, [0.0, 0.6, 0.2, 0.9]) == (pytest.approx(1.0 + 0.5 / 0.6), True)  # first crossing
    assert strength_to_flip(strengths, [0.0, 0.3, 0.4, 0.2]) == (4.0, False)  # never: the strength that flipped most
    assert strength_to_flip(strengths, [0.0, 0.1, 0.2, 0.3], target=0.3) == (8.0, True)
    for bad in (([2.0, 1.0], [0.1, 0.2]), ([0.0, 1.0], [0.1, 0.2]), ([1.0, 2.0], [0.1])):
        with pytest.raises(InputError):
            strength_to_flip(*bad)


def test_calibration_rescales_strength_1_to_the_measured_flip_and_says_so():
    from w2w_core.directions import calibrated, directions_summary, unit_meaning

    space, (beta, labels, _) = make_space(), planted(m=20)
    raw = fit_directions(beta, labels, ["beard", "glasses"], space, DirectionsConfig(m=20))
    assert unit_meaning(raw) == "1: as far as the farthest training model"
    done = calibrated(raw, {"beard": [0.0, 0.25, 0.75]}, [1.0, 2.0, 4.0], models=8)
    assert done.unit[0] == pytest.approx(3.0 * raw.unit[0]) and done.unit[1] == raw.unit[1]  # glasses: no sweep
    theta = np.zeros(D, np.float32)
    np.testing.assert_allclose(edit(theta, space, done, {"beard": 1.0}), edit(theta, space, raw, {"beard": 3.0}),
                               rtol=1e-5, atol=1e-6)
    assert done.calibration["attributes"]["beard"] == {"raw_strength": 3.0, "reached": True,
                                                       "flip_rates": [0.0, 0.25, 0.75]}
    assert "flips the attribute on 50% of training models" in unit_meaning(done)
    assert directions_summary(done)["calibrated"] == {"beard": True}
    assert raw.calibration is None  # the raw directions are not changed in place


def test_a_refit_takes_the_measured_strengths_of_a_reference_and_names_it():
    from w2w_core.directions import calibrated, with_calibration_of

    space, (beta, labels, _) = make_space(), planted(m=20)
    reference = calibrated(fit_directions(beta, labels, ["beard", "glasses"], space, DirectionsConfig(m=20)),
                           {"glasses": [0.0, 1.0]}, [2.0, 4.0], models=8)
    refit = fit_directions(beta[:-10], labels[:-10], ["beard", "glasses"], space, DirectionsConfig(m=20))
    taken = with_calibration_of(refit, reference)
    assert taken.unit[1] == pytest.approx(3.0 * refit.unit[1]) and taken.unit[0] == refit.unit[0]
    assert taken.calibration["measured_on"] == reference.space_fingerprint
    assert set(taken.calibration["attributes"]) == {"glasses"}
    assert with_calibration_of(refit, refit) is refit  # an uncalibrated reference changes nothing
