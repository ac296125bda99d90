"""Stores, spaces and directions that declare code-running codecs are refused before any chunk is decoded."""
from __future__ import annotations

import json

import numcodecs
import numpy as np
import pytest

from storage.space_store import load_space
from storage.weight_store import WeightStore
from tests.storage.test_weight_store import make_store
from w2w_core.errors import StorageError


@pytest.fixture(autouse=True)
def _no_unpickling(monkeypatch):
    monkeypatch.setattr(numcodecs.Pickle, "decode", lambda self, buf, out=None: pytest.fail("a chunk was unpickled"))


def test_a_space_of_pickled_objects_is_refused(tmp_path):
    space = tmp_path / "space"  # a zarr v2 group written by hand, as someone else's tool would
    (space / "mean").mkdir(parents=True)
    (space / ".zgroup").write_text(json.dumps({"zarr_format": 2}))
    (space / ".zattrs").write_text(json.dumps({"w2w_space_format": 1}))
    (space / "mean" / ".zarray").write_text(json.dumps({
        "zarr_format": 2, "shape": [3], "chunks": [3], "dtype": "|O", "compressor": None, "fill_value": 0,
        "order": "C", "filters": [{"id": "pickle", "protocol": 5}]}))
    (space / "mean" / "0").write_bytes(numcodecs.Pickle().encode(np.array([1, 2, 3], dtype=object)))
    with pytest.raises(StorageError, match="array 'mean' could run code when read.*'pickle'"):
        load_space(str(tmp_path / "space"), group=None)


def test_a_store_whose_weights_declare_a_pickle_codec_is_refused(tmp_path):
    store = make_store(tmp_path / "s.zarr")
    meta = tmp_path / "s.zarr" / "weights" / "zarr.json"
    document = json.loads(meta.read_text())
    document["codecs"].insert(1, {"name": "numcodecs.pickle", "configuration": {}})
    meta.write_text(json.dumps(document))
    with pytest.raises(StorageError, match="array 'weights' could run code.*numcodecs.pickle"):
        WeightStore.open(store.url, read_only=True)


def test_object_arrays_without_a_string_codec_are_refused():
    from storage.safety import unsafe_reason

    assert unsafe_reason({"dtype": "|O", "filters": [{"id": "vlen-utf8"}]}) is None
    assert "object array" in unsafe_reason({"dtype": "|O", "filters": None})
    assert unsafe_reason({"data_type": "float32", "codecs": [{"name": "bytes"}, {"name": "zstd"}]}) is None


def _consolidated_v3(tmp_path, declare):
    """A store whose arrays' own documents are clean, with `declare(weights document)` applied to the copy in the
    group's consolidated metadata only (zarr opens a group through that copy when it is there)."""
    import zarr

    store = make_store(tmp_path / "s.zarr")
    zarr.consolidate_metadata(store.url)
    meta = tmp_path / "s.zarr" / "zarr.json"
    group = json.loads(meta.read_text())
    declare(group["consolidated_metadata"]["metadata"]["weights"])
    meta.write_text(json.dumps(group))
    return store.url


@pytest.mark.filterwarnings("ignore:Consolidated metadata")
@pytest.mark.parametrize("declare", [
    lambda doc: doc["codecs"].insert(1, {"name": "numcodecs.pickle", "configuration": {}}),
    lambda doc: doc.update(data_type="object", codecs=[{"name": "numcodecs.pickle", "configuration": {}}]),
    lambda doc: doc["codecs"].insert(1, {"name": "numcodecs.jsonpickle", "configuration": {}}),
], ids=["pickle", "object", "jsonpickle"])
def test_a_store_whose_consolidated_metadata_declares_a_pickle_codec_is_refused(tmp_path, declare):
    url = _consolidated_v3(tmp_path, declare)
    with pytest.raises(StorageError, match="consolidated metadata.*array 'weights' could run code.*pickle"):
        WeightStore.open(url, read_only=True)


def test_a_v2_space_whose_consolidated_metadata_declares_a_pickle_codec_is_refused(tmp_path):
    space = tmp_path / "space"  # each array's own .zarray is clean; only .zmetadata says pickle
    clean = {"zarr_format": 2, "shape": [3], "chunks": [3], "dtype": "<f4", "compressor": None, "fill_value": 0,
             "order": "C", "filters": None}
    for name in ("mean", "std"):
        (space / name).mkdir(parents=True)
        (space / name / ".zarray").write_text(json.dumps(clean))
    (space / ".zgroup").write_text(json.dumps({"zarr_format": 2}))
    (space / ".zattrs").write_text(json.dumps({"w2w_space_format": 1}))
    pickled = {**clean, "dtype": "|O", "filters": [{"id": "pickle", "protocol": 5}]}
    (space / ".zmetadata").write_text(json.dumps({"zarr_consolidated_format": 1, "metadata": {
        ".zgroup": {"zarr_format": 2}, ".zattrs": {"w2w_space_format": 1},
        "mean/.zarray": pickled, "std/.zarray": clean}}))
    with pytest.raises(StorageError, match="consolidated metadata.*array 'mean' could run code.*'pickle'"):
        load_space(str(space), group=None)


@pytest.mark.filterwarnings("ignore:Consolidated metadata")
def test_a_store_with_clean_consolidated_metadata_still_opens(tmp_path):
    url = _consolidated_v3(tmp_path, lambda doc: None)
    assert WeightStore.open(url, read_only=True).n_rows == 10
