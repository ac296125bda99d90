"""Randomized route against a dense SVD on matrices with known spectra."""
import numpy as np
import pytest

from tests.w2w_core.pca.spectra import (
    exact_pca,
    matrix_with_spectrum,
    max_relative_error,
    separated,
    slow,
    subspace_cosine,
)
from w2w_core.pca import ArrayMatrix, PCAConfig, fit_pca


def _fit(x, **kwargs):
    return fit_pca(ArrayMatrix(x, block_rows=64), PCAConfig(method="randomized", **kwargs))


def test_well_separated_spectrum_is_recovered_to_float32_precision():
    x = matrix_with_spectrum(separated(30), 300, 2000, np.random.default_rng(0), offset=3.0)
    sigma, vt = exact_pca(x, standardize=False)
    fit = _fit(x, k=20, standardize=False)
    assert max_relative_error(sigma, fit.singular_values) < 1e-4
    assert subspace_cosine(vt, fit.components) > 0.9999
    assert np.allclose(fit.components.T @ fit.components, np.eye(20), atol=1e-5)


def test_slowly_decaying_spectrum_meets_the_bars_with_defaults():
    # σ_j ∝ j^-1/2 over the full rank: sketches with few oversamples lose the tail of the top k
    x = matrix_with_spectrum(slow(399), 400, 3000, np.random.default_rng(1), offset=1.0)
    sigma, vt = exact_pca(x, standardize=False)
    default = _fit(x, k=40, standardize=False)
    thin = _fit(x, k=40, standardize=False, n_oversamples=10, n_power_iter=0)
    assert max_relative_error(sigma, default.singular_values) < 0.02
    assert subspace_cosine(vt, default.components) > 0.99
    # what the defaults buy over a thin sketch (the failure reported in issue 4)
    assert max_relative_error(sigma, thin.singular_values) > 5 * max_relative_error(sigma, default.singular_values)


def test_many_power_iterations_do_not_collapse():
    # without a QR after every product, columns align with σ₁ after a few iterations
    x = matrix_with_spectrum(separated(60) ** 2 / 100, 200, 1500, np.random.default_rng(2))
    sigma, vt = exact_pca(x, standardize=False)
    fit = _fit(x, k=15, standardize=False, n_oversamples=5, n_power_iter=12)
    assert max_relative_error(sigma, fit.singular_values) < 1e-3
    assert subspace_cosine(vt, fit.components) > 0.999


def test_standardization_matches_svd_of_the_standardized_matrix():
    rng = np.random.default_rng(3)
    scales = np.exp(rng.uniform(-4, 4, 1000))  # parameters on very different scales
    x = matrix_with_spectrum(separated(25), 250, 1000, rng, offset=2.0, column_scales=scales)
    x[:, 7] = 0.5  # a constant parameter must not produce NaN
    sigma, vt = exact_pca(x, standardize=True)
    fit = _fit(x, k=10, standardize=True)
    assert np.all(np.isfinite(fit.components))
    assert max_relative_error(sigma, fit.singular_values) < 1e-3
    assert subspace_cosine(vt, fit.components) > 0.999
    assert np.allclose(fit.scale, np.where(x.std(0, ddof=1) > 0, x.std(0, ddof=1), 1), rtol=1e-4)
    total = np.sum(((x - x.mean(0)) / fit.scale) ** 2)
    assert np.allclose(fit.explained_variance_ratio, sigma[:10] ** 2 / total, rtol=1e-3)


def test_adaptive_iterations_stop_early_on_a_gap_and_keep_going_on_a_slow_spectrum():
    rng = np.random.default_rng(6)
    gap = matrix_with_spectrum(np.r_[separated(10), np.full(100, 0.01)], 200, 1500, rng)
    slow_rows = matrix_with_spectrum(slow(199), 200, 1500, rng)
    on_gap, on_slow = _fit(gap, k=10, standardize=False), _fit(slow_rows, k=10, standardize=False)
    assert len(on_gap.passes) == 5  # moments, sketch, Bᵀ, one power iteration, Bᵀ: σ stopped moving
    assert len(on_slow.passes) > len(on_gap.passes)
    for x, fit in ((gap, on_gap), (slow_rows, on_slow)):
        sigma, vt = exact_pca(x, standardize=False)
        assert max_relative_error(sigma, fit.singular_values) < 0.01
        assert subspace_cosine(vt, fit.components) > 0.99


@pytest.mark.parametrize("power_iter", [0, 2])
def test_passes_are_counted_and_each_reads_the_matrix_once(power_iter):
    x = matrix_with_spectrum(separated(10), 100, 500, np.random.default_rng(4))
    records = []
    fit = fit_pca(ArrayMatrix(x, block_rows=30), PCAConfig(k=5, method="randomized", n_power_iter=power_iter),
                  on_pass=records.append)
    assert len(fit.passes) == 2 * power_iter + 3 == len(records)
    assert [r.index for r in records] == list(range(1, len(records) + 1))
    assert all(r.bytes_read == x.nbytes for r in records)


def test_same_seed_same_result_and_float16_rows_agree_with_float32():
    x = matrix_with_spectrum(separated(12), 120, 800, np.random.default_rng(5), offset=1.0)
    a, b = _fit(x, k=6, seed=7), _fit(x, k=6, seed=7)
    assert np.array_equal(a.components, b.components)
    half = _fit(x.astype(np.float16), k=6)
    assert subspace_cosine(a.components.T.astype(np.float64), half.components) > 0.999
