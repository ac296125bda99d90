"""`w2w run`'s flow, end to end on the embedded model, through a real (temporary) Prefect API."""
import json

import numpy as np
import pytest
from PIL import Image

from storage.space_store import load_space
from storage.weight_store import WeightStore
from tasks.config import DatasetConfig, ReportConfig, RunConfig

pytestmark = pytest.mark.integration


def test_run_builds_store_fits_space_and_draws_report(prefect_api, tmp_path):
    from flows.end_to_end import w2w_run

    report = ReportConfig(n_dataset_rows=2, n_samples=2, images_per_model=2)
    config = RunConfig(n_identities=4, k=2, dataset=DatasetConfig(batch_size=2).with_steps(3), report=report)
    summary = w2w_run(str(tmp_path), config)
    store = WeightStore.open(str(tmp_path / "store"))
    assert store.counts()["done"] == 4 and store.verify().ok
    space = load_space(str(tmp_path / "store"))
    assert space.k == 2 and sorted(space.row_ids.tolist()) == [0, 1, 2, 3]
    np.testing.assert_allclose(space.mean, store.read_rows(range(4)).mean(0), rtol=1e-4, atol=1e-6)
    picture = Image.open(tmp_path / "report.png")
    assert picture.format == "PNG" and picture.height > picture.width / 2
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["counts"]["done"] == 4 and saved["k"] == 2
    assert set(summary["fidelity_rank_percentile"]) == {"lora", "space"}
    assert all(0.0 <= v <= 1.0 for v in saved["fidelity_rank_percentile"].values())
