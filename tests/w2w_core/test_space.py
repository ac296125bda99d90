"""The w2w space: project / reconstruct / sample / truncate against known ground truth."""
import numpy as np
import pytest

from tests.w2w_core.pca.spectra import matrix_with_spectrum, separated
from w2w_core.errors import InputError, LayoutMismatchError
from w2w_core.pca import ArrayMatrix, PCAConfig, fit_pca
from w2w_core.space import Space, project, reconstruct, sample, sample_coefficients, space_from_fit, summary, truncate


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(0)
    # rank 12 around a mean, parameters on different scales: standardization matters
    return matrix_with_spectrum(separated(12), 80, 400, rng, offset=3.0, column_scales=rng.uniform(0.2, 5, 400))


def _space(x, k, standardize=True):
    fit = fit_pca(ArrayMatrix(x), PCAConfig(k=k, method="gram", standardize=standardize))
    return space_from_fit(fit, np.arange(len(x)) * 2, {"k": k})


def test_a_space_of_full_rank_reconstructs_its_training_rows(rows):
    space = _space(rows, 12)
    assert np.allclose(reconstruct(space, project(space, rows)), rows, atol=1e-4 * np.abs(rows).max())


def test_project_after_reconstruct_is_the_identity_on_coefficients(rows):
    space = _space(rows, 8)
    coefficients = np.random.default_rng(1).normal(size=(5, 8)).astype(np.float32) * 10
    assert np.allclose(project(space, reconstruct(space, coefficients)), coefficients, atol=1e-3)
    one = project(space, reconstruct(space, coefficients[0]))  # a single vector keeps its 1-D shape
    assert one.shape == (8,) and np.allclose(one, coefficients[0], atol=1e-3)


def test_projection_is_the_standardized_least_squares_fit(rows):
    space = _space(rows, 5)
    v = rows[:3] + np.random.default_rng(2).normal(size=(3, 400)).astype(np.float32)
    standardized = (v - space.mean) / space.std
    beta, *_ = np.linalg.lstsq(space.components, standardized.T, rcond=None)
    assert np.allclose(project(space, v), beta.T, atol=1e-3)


def test_unstandardized_space_uses_unit_scale(rows):
    space = _space(rows, 4, standardize=False)
    assert np.all(space.std == 1)
    assert np.allclose(space.mean, rows.mean(0), atol=1e-4)


def test_samples_follow_the_training_coefficient_gaussians(rows):
    space = _space(rows, 6)
    drawn = project(space, sample(space, 4000, np.random.default_rng(3)))
    assert np.allclose(drawn.mean(0), space.coef_mean, atol=0.1 * space.coef_std.max())
    assert np.allclose(drawn.std(0), space.coef_std, rtol=0.06)
    narrow = sample_coefficients(space, 4000, np.random.default_rng(3), spread=0.5)
    assert np.allclose(narrow.std(0), 0.5 * space.coef_std, rtol=0.06)
    again = sample(space, 2, np.random.default_rng(3))
    assert np.array_equal(again, sample(space, 2, np.random.default_rng(3)))


def test_truncate_equals_fitting_fewer_components(rows):
    full, small = _space(rows, 10), _space(rows, 4)
    cut = truncate(full, 4)
    assert cut.k == 4 and cut.fit_config["truncated_to"] == 4
    assert np.allclose(cut.components, small.components, atol=1e-4)
    assert np.allclose(cut.singular_values, small.singular_values)
    with pytest.raises(InputError, match="cannot truncate a space of 10 components to k=11"):
        truncate(full, 11)


def test_wrong_shapes_say_what_was_expected(rows):
    space = _space(rows, 4)
    with pytest.raises(LayoutMismatchError, match=r"shape \[n, 400\] or \[400\], got \(2, 399\)"):
        project(space, rows[:2, :399])
    with pytest.raises(InputError, match=r"coefficients must have shape \[n, 4\]"):
        reconstruct(space, np.zeros((2, 5)))
    with pytest.raises(LayoutMismatchError, match="std has shape"):
        Space(space.mean, space.std[:-1], space.components, space.singular_values,
              space.explained_variance_ratio, space.coef_mean, space.coef_std, space.row_ids)


def test_summary_reports_cumulative_explained_variance(rows):
    space = _space(rows, 12)
    info = summary(space, milestones=(1, 10))
    assert info["k"] == 12 and info["n_rows"] == 80 and info["n_params"] == 400
    assert info["cumulative_explained_variance"][12] == pytest.approx(1.0, abs=1e-5)  # rank 12
    assert info["cumulative_explained_variance"][1] == pytest.approx(space.explained_variance_ratio[0])
    assert list(space.row_ids[:3]) == [0, 2, 4]


def test_default_k_is_the_papers_1000_or_all_that_fewer_models_hold():
    from w2w_core.space import default_k

    assert [default_k(n) for n in (2, 10, 1001, 3000, 60000)] == [1, 9, 1000, 1000, 1000]


def test_check_m_is_the_one_rule_for_m_against_the_space():
    from w2w_core.space import check_m

    assert check_m(3, 3) == 3 and check_m(1, 1000) == 1
    for m in (0, 4):
        with pytest.raises(InputError, match=f"--m={m} components, but the space has 3"):
            check_m(m, 3, "--m")
