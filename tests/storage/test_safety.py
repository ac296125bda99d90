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
