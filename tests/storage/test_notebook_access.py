"""docs/notebook_access.py runs against a real store and shows what the store holds."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from storage.weight_store import StoreSpec, WeightStore
from tests.storage.test_weight_store import ATTRS, make_store, tiny_layout, write_batch

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "docs" / "notebook_access.py"


def test_notebook_example_reads_labels_and_exports_a_row(tmp_path):
    store = make_store(tmp_path / "s.zarr", n_rows=10)
    store.assign_identities(range(4), ["id10", "id11", "id12", "id13"],
                            np.array([[1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 0, 0]], dtype=bool), seeds=[10, 11, 12, 13])
    data = write_batch(store, range(4))
    store.mark_failed([9], "diverged")
    out = tmp_path / "row2.safetensors"

    result = subprocess.run([sys.executable, str(SCRIPT), store.url, "--row", "2", "--out", str(out)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "weights: 10 identities x 24 params (float32), attributes: male, glasses, beard"
    assert lines[1] == "status: 4 done, 1 failed, 5 pending"
    assert "  male: 0.50 of done identities" in lines and "  beard: 0.25 of done identities" in lines
    assert "row 2: identity id12, status done, attributes: male, beard" in lines
    assert "row 2 is identity 'id12': ds.sel(identity='id12') has 24 params, status 1" in lines

    tensors = load_file(str(out))
    layout = store.layout
    assert list(tensors) == sorted("unet." + k for k in layout["keys"])  # safetensors sorts keys
    flat = np.concatenate([tensors["unet." + k].reshape(-1) for k in layout["keys"]])
    np.testing.assert_array_equal(flat, data[2])
    assert [list(tensors["unet." + k].shape) for k in layout["keys"]] == layout["shapes"]


@pytest.mark.integration
def test_notebook_example_on_s3_with_env_credentials(s3_url, s3_env, tmp_path):
    store = WeightStore.create(StoreSpec(s3_url, 4), tiny_layout(), {}, ATTRS, 8)  # options from env
    store.assign_identities(range(8), [f"id{i}" for i in range(8)], np.zeros((8, 3), bool))
    data = write_batch(store, range(4))
    result = subprocess.run([sys.executable, str(SCRIPT), s3_url, "--row", "1"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "status: 4 done, 0 failed, 4 pending" in result.stdout
    first = [round(float(x), 4) for x in data[1, :3]]
    assert f"first values {first}" in result.stdout
