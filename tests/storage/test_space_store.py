"""Saving and loading the w2w space: exact round trips, next to the weights, locally and on S3."""
import numpy as np
import pytest
import xarray as xr
import zarr

from storage.space_store import load_space, save_space
from w2w_core.errors import InputError, StorageError
from w2w_core.space import Space, project

FIELDS = ("mean", "std", "components", "singular_values", "explained_variance_ratio", "coef_mean",
          "coef_std", "row_ids")


def _space(d=300, k=40, seed=0):
    rng = np.random.default_rng(seed)
    components, _ = np.linalg.qr(rng.standard_normal((d, k)))
    s = np.sort(rng.uniform(1, 10, k))[::-1]
    return Space(mean=rng.standard_normal(d).astype(np.float32), std=rng.uniform(0.5, 2, d).astype(np.float32),
                 components=components.astype(np.float32), singular_values=s,
                 explained_variance_ratio=s**2 / np.sum(s**2) / 2, coef_mean=np.zeros(k),
                 coef_std=s / 10, row_ids=np.arange(0, 3 * 50, 3, dtype=np.int64),
                 fit_config={"k": k, "method": "gram", "passes": [{"label": "a", "seconds": 1.5}]})


def _assert_same(a: Space, b: Space, k=None):
    k = a.k if k is None else k
    for name in FIELDS:
        expected = getattr(a, name)
        if name == "components":
            expected = expected[:, :k]
        elif expected.shape == (a.k,):
            expected = expected[:k]
        got = getattr(b, name)
        assert got.dtype == expected.dtype and np.array_equal(got, expected), name


def test_round_trip_next_to_the_weights_is_exact(tmp_path):
    space, store = _space(), str(tmp_path / "store")
    where = save_space(space, store)
    assert where == f"{store}/space"
    loaded = load_space(store)
    _assert_same(space, loaded)
    assert loaded.fit_config == space.fit_config
    v = np.random.default_rng(1).standard_normal((3, 300)).astype(np.float32)
    assert np.array_equal(project(loaded, v), project(space, v))


def test_first_k_components_load_alone_and_saving_again_replaces(tmp_path):
    url = str(tmp_path / "store")
    save_space(_space(k=40), url)
    _assert_same(_space(k=40), load_space(url, k=5), k=5)
    save_space(_space(k=12, seed=3), url)  # a refit replaces the old space entirely
    _assert_same(_space(k=12, seed=3), load_space(url))
    with pytest.raises(InputError, match="has 12 components; asked for k=13"):
        load_space(url, k=13)


def test_the_space_opens_in_plain_zarr_and_xarray(tmp_path):
    url = str(tmp_path / "any-place")
    save_space(_space(), url, group=None)
    group = zarr.open_group(url, mode="r")
    assert group.attrs["fit_config"]["method"] == "gram"
    dataset = xr.open_zarr(url, consolidated=False)
    assert dataset["components"].dims == ("param", "component")
    assert dataset["row_ids"].dims == ("row",)
    assert np.array_equal(dataset["singular_values"].values, _space().singular_values)


def test_missing_space_and_bad_config_are_clear_errors(tmp_path):
    with pytest.raises(StorageError, match="no w2w space at .*: fit one first"):
        load_space(str(tmp_path / "nothing"))
    bad = _space()
    object.__setattr__(bad, "fit_config", {"when": object()})
    with pytest.raises(InputError, match="fit_config must be JSON-able"):
        save_space(bad, str(tmp_path / "x"))


def test_saving_never_replaces_a_group_that_is_not_a_space(tmp_path):
    url = str(tmp_path / "store")
    zarr.open_group(url, mode="w").create_array("weights", shape=(2, 3), dtype="float32")
    with pytest.raises(StorageError, match="not a w2w space; refusing to replace it"):
        save_space(_space(), url, group=None)
    assert "weights" in zarr.open_group(url, mode="r")


@pytest.mark.integration
def test_round_trip_on_s3(s3_url, s3_storage_options):
    space = _space()
    save_space(space, s3_url, s3_storage_options)
    _assert_same(space, load_space(s3_url, s3_storage_options))


def test_float16_components_halve_the_bytes_and_load_as_float32_within_rounding(tmp_path):
    space = _space(d=600, k=40)
    save_space(space, str(tmp_path / "a"))
    save_space(space, str(tmp_path / "b"), components_dtype="float16")
    assert zarr.open_array(str(tmp_path / "b" / "space" / "components"), mode="r").dtype == np.float16
    loaded = load_space(str(tmp_path / "b"))
    assert loaded.components.dtype == np.float32
    np.testing.assert_allclose(loaded.components, space.components, atol=1e-3 * np.abs(space.components).max())
    sizes = [sum(f.stat().st_size for f in (tmp_path / x / "space" / "components").rglob("*") if f.is_file())
             for x in ("a", "b")]
    assert sizes[1] < 0.6 * sizes[0]
    with pytest.raises(InputError):
        save_space(space, str(tmp_path / "c"), components_dtype="int8")
