"""Choosing the route, the training-coefficient statistics, settings and backends."""
import sys

import numpy as np
import pytest

from tests.w2w_core.pca.spectra import exact_pca, matrix_with_spectrum, separated, slow, subspace_cosine
from w2w_core.errors import BackendUnavailableError, InputError
from w2w_core.pca import ArrayMatrix, PCAConfig, array_module, choose_method, fit_pca


def test_auto_picks_gram_for_moderate_n_and_randomized_beyond():
    assert choose_method(PCAConfig(k=100), 4096, 100_000) == "gram"  # the measured case
    assert choose_method(PCAConfig(k=1000), 64_974, 99_648) == "randomized"  # paper scale
    assert choose_method(PCAConfig(k=100, gram_max_rows=1000), 4096, 100_000) == "randomized"
    assert choose_method(PCAConfig(k=100, method="randomized"), 500, 1000) == "randomized"


def test_routes_agree_and_coefficient_statistics_are_those_of_the_training_rows():
    x = matrix_with_spectrum(separated(20), 200, 900, np.random.default_rng(0), offset=2.0)
    gram = fit_pca(ArrayMatrix(x), PCAConfig(k=8, method="gram"))
    rand = fit_pca(ArrayMatrix(x), PCAConfig(k=8, method="randomized"))
    assert np.allclose(gram.singular_values, rand.singular_values, rtol=1e-4)
    assert np.allclose(gram.components, rand.components, atol=1e-4)  # same signs: flipped the same way
    coefficients = ((x - gram.mean) / gram.scale) @ gram.components
    assert np.allclose(gram.coef_mean, coefficients.mean(0), atol=1e-3 * gram.singular_values[0])
    assert np.allclose(gram.coef_std, coefficients.std(0, ddof=1), rtol=1e-4)
    assert np.allclose(rand.coef_std, gram.singular_values / np.sqrt(199), rtol=1e-4)


def test_explained_variance_ratio_sums_to_one_at_full_rank():
    x = matrix_with_spectrum(slow(29), 30, 200, np.random.default_rng(1))
    fit = fit_pca(ArrayMatrix(x), PCAConfig(k=29, method="gram"))
    assert fit.explained_variance_ratio.sum() == pytest.approx(1.0, abs=1e-5)
    sigma, _ = exact_pca(x, standardize=True)
    assert np.allclose(fit.explained_variance_ratio, sigma[:29] ** 2 / np.sum(sigma**2), atol=1e-6)


def test_bad_settings_are_refused_with_what_to_do():
    with pytest.raises(InputError, match="unknown PCA method 'svd'"):
        PCAConfig(k=5, method="svd")
    with pytest.raises(InputError, match="k must be at least 1"):
        PCAConfig(k=0)
    with pytest.raises(InputError, match="n_power_iter must be >= 0"):
        PCAConfig(k=3, n_power_iter=-1)
    with pytest.raises(InputError, match="unknown PCA backend 'tpu'"):
        array_module("tpu")


def test_cupy_without_cupy_is_a_clear_backend_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # as if not installed, even where it is
    with pytest.raises(BackendUnavailableError, match="pip install cupy-cuda12x"):
        array_module("cupy")


def test_randomized_and_exact_subspaces_match_on_standardized_data():
    rng = np.random.default_rng(2)
    x = matrix_with_spectrum(separated(15), 150, 600, rng, offset=1.0, column_scales=rng.uniform(0.5, 3, 600))
    _, vt = exact_pca(x, standardize=True)
    for method in ("gram", "randomized"):
        fit = fit_pca(ArrayMatrix(x, block_rows=37), PCAConfig(k=6, method=method))
        assert subspace_cosine(vt, fit.components) > 0.9999, method
