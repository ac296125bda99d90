"""Exact Gram route: equal to a dense SVD, slab by slab."""
import numpy as np
import pytest

from tests.w2w_core.pca.spectra import exact_pca, matrix_with_spectrum, max_relative_error, slow, subspace_cosine
from w2w_core.errors import InputError
from w2w_core.pca import ArrayMatrix, PCAConfig, fit_pca


@pytest.mark.parametrize("standardize", [True, False])
def test_gram_route_is_exact_across_several_slabs(standardize):
    rng = np.random.default_rng(0)
    x = matrix_with_spectrum(slow(149), 150, 1200, rng, offset=4.0, column_scales=rng.uniform(0.1, 10, 1200))
    x[:, 3] = -2.0  # constant parameter
    sigma, vt = exact_pca(x, standardize)
    slab_bytes = 150 * 4 * 500  # 500 columns per slab -> 3 slabs
    fit = fit_pca(ArrayMatrix(x, block_rows=40),
                  PCAConfig(k=30, method="gram", standardize=standardize, gram_slab_bytes=slab_bytes))
    assert [p.label.split(":")[0] for p in fit.passes] == [
        "gram slab 1/3", "gram slab 2/3", "gram slab 3/3", "components"]
    assert max_relative_error(sigma, fit.singular_values) < 1e-4
    assert subspace_cosine(vt, fit.components) > 0.99999
    assert np.allclose(fit.components.T @ fit.components, np.eye(30), atol=1e-4)


def test_slab_columns_are_read_only_once_per_slab():
    x = matrix_with_spectrum(slow(49), 50, 700, np.random.default_rng(1))
    fit = fit_pca(ArrayMatrix(x), PCAConfig(k=5, method="gram", gram_slab_bytes=50 * 4 * 300))
    assert [p.bytes_read for p in fit.passes] == [50 * 300 * 4, 50 * 300 * 4, 50 * 100 * 4, x.nbytes]


def test_k_beyond_the_rank_of_centered_rows_is_refused():
    x = np.random.default_rng(2).standard_normal((10, 50)).astype(np.float32)
    with pytest.raises(InputError, match="k=10 components need at least k \\+ 1 rows"):
        fit_pca(ArrayMatrix(x), PCAConfig(k=10, method="gram"))
