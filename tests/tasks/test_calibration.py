"""Calibrating strength 1 with the probe, on the shipped zoo (the real models, a few of them, few images)."""
from __future__ import annotations

import numpy as np
import pytest

from storage.weight_store import WeightStore
from tasks.calibration import calibrate, calibration_rows, probe_reads, readable_attributes
from tasks.config import ZOO_DIR, CalibrationConfig, PicturesConfig
from tasks.directions import fit_directions_from_store
from w2w_core.directions import DirectionsConfig

QUICK = CalibrationConfig(models=4, raw_strengths=(0.5, 12.0), pictures=PicturesConfig(images_per_model=1, seed=1))


@pytest.fixture(scope="module")
def raw():
    return fit_directions_from_store(str(ZOO_DIR), DirectionsConfig(m=200))


def test_the_probe_reads_the_zoos_attributes_and_nothing_of_other_images_or_models():
    from w2w_core.base_model import DEFAULT_MODEL_ID

    zoo = WeightStore.open(str(ZOO_DIR), read_only=True)
    assert set(probe_reads(zoo)) >= {"male", "beard", "glasses"} and "dog" not in probe_reads(zoo)
    world = {"identities": {"source": "world"}}
    assert readable_attributes(DEFAULT_MODEL_ID, world, ["beard", "dog"]) == ["beard"]
    assert readable_attributes("/models/stable-diffusion-v1-5", world, ["beard"]) == []  # another base model
    assert readable_attributes(DEFAULT_MODEL_ID, {"identities": {"source": "manifest"}}, ["beard"]) == []


@pytest.mark.slow
def test_strength_1_becomes_the_measured_raw_strength_and_a_strong_edit_flips_more(raw):
    done = calibrate(str(ZOO_DIR), raw, QUICK)
    record = done.calibration
    assert record["models"] == 4 and record["raw_strengths"] == [0.5, 12.0]
    for name, entry in record["attributes"].items():
        i = raw.names.index(name)
        assert done.unit[i] == pytest.approx(raw.unit[i] * entry["raw_strength"])
        assert all(0.0 <= r <= 1.0 for r in entry["flip_rates"]) and 0.5 <= entry["raw_strength"] <= 12.0
        if not entry["reached"]:  # no strength flipped half: the one that flipped most, not an interpolation
            assert entry["raw_strength"] in (0.5, 12.0)
    rates = np.array([entry["flip_rates"] for entry in record["attributes"].values()])
    assert rates[:, 1].mean() > rates[:, 0].mean() + 0.25  # 12x the farthest training model flips far more


def test_the_same_models_are_drawn_for_every_attribute_and_run():
    from storage.space_store import load_space

    space = load_space(str(ZOO_DIR))
    rows = calibration_rows(space, 8, seed=0)
    assert len(set(rows)) == 8 and set(rows) <= set(space.row_ids.tolist())
    assert np.array_equal(rows, calibration_rows(space, 8, seed=0))
