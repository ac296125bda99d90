"""The attribute model: planted label shifts come back, and samples carry the training models' attributes."""
from __future__ import annotations

import numpy as np
import pytest

from w2w_core.attribute_model import fit_attribute_model, label_regression, sample_by_mixing, sample_with_attributes
from w2w_core.errors import InputError

N, K = 4000, 12


def planted(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients from known shifts of two correlated labels (beard mostly on men) and a constant label."""
    rng = np.random.default_rng(seed)
    male = rng.random(N) < 0.5
    beard = male & (rng.random(N) < 0.6)
    labels = np.stack([male, beard, np.zeros(N, bool)], axis=1)
    shifts = np.zeros((3, K))
    shifts[0, :3], shifts[1, 3:6] = (4.0, -2.0, 1.0), (0.0, 3.0, 3.0)
    noise_std = np.linspace(2.0, 0.5, K)
    intercept = rng.standard_normal(K)
    beta = intercept + labels @ shifts + rng.standard_normal((N, K)) * noise_std
    return beta, labels, shifts, noise_std


def test_planted_shifts_come_back_with_the_other_labels_held_fixed():
    beta, labels, shifts, noise_std = planted()
    _, fit = label_regression(beta, labels)
    np.testing.assert_allclose(fit, shifts, atol=0.25)  # beard's shift is not male's, though they correlate
    assert np.array_equal(fit[2], np.zeros(K))  # a label that never varies moves nothing
    model = fit_attribute_model(beta, labels)
    np.testing.assert_allclose(model.residual_std, noise_std, rtol=0.06)


def test_samples_have_the_training_label_frequencies_and_their_shifts():
    beta, labels, shifts, noise_std = planted()
    model = fit_attribute_model(beta, labels)
    drawn, drawn_labels = sample_with_attributes(model, 20000, np.random.default_rng(1))
    np.testing.assert_allclose(drawn_labels.mean(axis=0), labels.mean(axis=0), atol=0.015)
    assert not (drawn_labels[:, 1] & ~drawn_labels[:, 0]).any()  # joint label vectors, not independent draws
    men = drawn_labels[:, 0]
    beards = drawn[men & drawn_labels[:, 1]].mean(axis=0) - drawn[men & ~drawn_labels[:, 1]].mean(axis=0)
    np.testing.assert_allclose(beards, shifts[1], atol=0.2)
    residual = drawn - model.intercept - drawn_labels @ model.shifts
    np.testing.assert_allclose(residual.std(axis=0), noise_std, rtol=0.06)


def test_spread_and_m_scale_and_limit_the_noise():
    beta, labels, _, _ = planted()
    model = fit_attribute_model(beta, labels)
    drawn, drawn_labels = sample_with_attributes(model, 20000, np.random.default_rng(2), spread=0.5, m=4)
    residual = drawn - model.intercept - drawn_labels @ model.shifts
    np.testing.assert_allclose(residual[:, :4].std(axis=0), 0.5 * model.residual_std[:4], rtol=0.06)
    assert np.abs(residual[:, 4:]).max() < 1e-9  # beyond m: the conditional mean only


def test_contrast_scales_the_label_shifts_about_the_mean_labels():
    beta, labels, _, _ = planted()
    model = fit_attribute_model(beta, labels)
    plain, plain_labels = sample_with_attributes(model, 500, np.random.default_rng(3), spread=0.0)
    strong, strong_labels = sample_with_attributes(model, 500, np.random.default_rng(3), spread=0.0, contrast=3.0)
    assert np.array_equal(plain_labels, strong_labels)  # the same draws of labels
    centre = model.intercept + labels.mean(axis=0) @ model.shifts
    np.testing.assert_allclose(strong - centre, 3.0 * (plain - centre), atol=1e-9)
    np.testing.assert_allclose(plain, model.intercept + plain_labels @ model.shifts, atol=1e-9)  # 1: the fitted model


def test_bad_input_is_one_clear_error():
    beta, labels, _, _ = planted()
    model = fit_attribute_model(beta, labels)
    for kwargs in ({"spread": -1.0}, {"m": 0}, {"m": K + 1}, {"contrast": -1.0}):
        with pytest.raises(InputError, match="need n >= 0 samples"):
            sample_with_attributes(model, 4, np.random.default_rng(0), **kwargs)
    with pytest.raises(InputError, match="do not fit"):
        label_regression(beta, labels[:10])
    with pytest.raises(InputError, match="at least 2 training models"):
        fit_attribute_model(beta[:1], labels[:1])


def _residuals(model, beta: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return beta - model.intercept - labels @ model.shifts


def test_mixing_sums_the_residuals_of_two_training_models_with_the_drawn_labels():
    rng = np.random.default_rng(4)
    labels = np.array([[0, 0], [0, 0], [1, 0], [1, 0], [1, 1], [1, 1], [0, 1]], bool)  # [0, 1]: one model only
    beta = rng.standard_normal((7, 5)) * 3
    model = fit_attribute_model(beta, labels)
    own = _residuals(model, beta, labels)
    drawn, drawn_labels = sample_by_mixing(model, beta, 200, np.random.default_rng(5))
    residuals = _residuals(model, drawn, drawn_labels)
    for sample, label in zip(residuals, drawn_labels):
        members = np.flatnonzero((labels == label).all(axis=1))
        if len(members) == 2:  # exactly the two models with these labels
            np.testing.assert_allclose(sample, own[members].sum(axis=0) / np.sqrt(2), atol=1e-9)
        else:  # the lone model and the first of the nearest label vectors
            sums = [(own[members[0]] + own[other]) / np.sqrt(2) for other in range(7) if other != members[0]]
            assert min(np.abs(sample - s).max() for s in sums) < 1e-9
    assert not any(np.allclose(d, b) for d in drawn for b in beta)  # none of them is a training model


def test_mixed_samples_keep_the_label_frequencies_and_the_residual_spread():
    beta, labels, _, noise_std = planted()
    model = fit_attribute_model(beta, labels)
    drawn, drawn_labels = sample_by_mixing(model, beta, 8000, np.random.default_rng(6))
    np.testing.assert_allclose(drawn_labels.mean(axis=0), labels.mean(axis=0), atol=0.02)
    np.testing.assert_allclose(_residuals(model, drawn, drawn_labels).std(axis=0), noise_std, rtol=0.06)
    three, three_labels = sample_by_mixing(model, beta, 200, np.random.default_rng(6), mix=3, spread=0.5, m=4)
    residual = _residuals(model, three, three_labels)
    assert np.abs(residual[:, 4:]).max() < 1e-9 and residual[:, :4].std() > 0  # beyond m: the conditional mean


def test_mixing_refuses_bad_input():
    beta, labels, _, _ = planted()
    model = fit_attribute_model(beta, labels)
    with pytest.raises(InputError, match="mix >= 2"):
        sample_by_mixing(model, beta, 4, np.random.default_rng(0), mix=1)
    with pytest.raises(InputError, match="training models the attribute model was fit on"):
        sample_by_mixing(model, beta[:10], 4, np.random.default_rng(0))
    small = fit_attribute_model(beta[:3], labels[:3])
    with pytest.raises(InputError, match="cannot mix 4"):
        sample_by_mixing(small, beta[:3], 4, np.random.default_rng(0), mix=4)
