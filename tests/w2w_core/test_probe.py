"""The shipped probe: loads, reads attributes and identity off held-out renders, refuses bad input."""
import json

import numpy as np
import pytest
import torch

from w2w_core.errors import InputError
from w2w_core.probe import Probe, ProbeConfig, embed_images, load_probe, predict_attributes, save_probe
from w2w_core.probe_training import ProbeTrainConfig, degrade, retrieval_scores, train_probe
from w2w_core.world import ATTRIBUTES, attribute_vector, heldout_seeds, make_identity, render_identities

# Floors = the shipped probe's accuracy on exactly these renders (measured: male .955, young .915, beard .94,
# glasses .985, bald .995, pale .92, chubby .915, smiling .975, blond .98, long hair .985; mean .956;
# single-render retrieval top-1 .975) minus a margin for retraining noise.
ATTRIBUTE_ACCURACY_FLOOR = {
    "male": 0.90,
    "young": 0.85,
    "beard": 0.88,
    "glasses": 0.92,
    "bald": 0.93,
    "pale_skin": 0.86,
    "chubby": 0.85,
    "smiling": 0.91,
    "blond_hair": 0.91,
    "long_hair": 0.92,
}
MEAN_ATTRIBUTE_ACCURACY_FLOOR = 0.92
RETRIEVAL_TOP1_FLOOR = 0.90


@pytest.fixture(scope="module")
def probe():
    torch.set_num_threads(1)
    return load_probe()


@pytest.fixture(scope="module")
def heldout():
    # fresh held-out identities, not the ones the metrics in the report were measured on
    ids = [make_identity(s) for s in heldout_seeds(200, start=1000)]
    return ids, render_identities(ids, 2, variation_seed=7)


def test_load_probe_gives_eval_model_with_world_attributes(probe):
    assert isinstance(probe, Probe) and not probe.training
    assert probe.config.attributes == ATTRIBUTES


def test_attribute_accuracy_on_heldout_identities(probe, heldout):
    ids, images = heldout
    truth = np.stack([attribute_vector(i) for i in ids])
    pred = predict_attributes(probe, images[:, 0])
    assert pred.dtype == bool and pred.shape == truth.shape
    acc = (pred == truth).mean(0)
    assert acc.mean() > MEAN_ATTRIBUTE_ACCURACY_FLOOR, dict(zip(ATTRIBUTES, acc.round(3)))
    for name, a in zip(ATTRIBUTES, acc):
        assert a > ATTRIBUTE_ACCURACY_FLOOR[name], f"{name}: {a:.3f}"


def test_same_identity_embeddings_are_closer(probe, heldout):
    _, images = heldout
    e = embed_images(probe, images.reshape(-1, 32, 32, 3)).reshape(200, 2, -1)
    assert e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=-1), 1.0, atol=1e-5)
    same = (e[:, 0] * e[:, 1]).sum(-1)
    cross = e[:, 0] @ e[:, 1].T
    other = cross[~np.eye(200, dtype=bool)]
    assert same.mean() > other.mean() + 0.5   # measured 0.91 vs 0.005
    top1, percentile = retrieval_scores(e[:, 0], e[:, 1])   # single render vs single render
    assert top1 > RETRIEVAL_TOP1_FLOOR and percentile > 0.95


def test_embedding_survives_degradation(probe, heldout):
    _, images = heldout
    clean = embed_images(probe, images[:, 0])
    blurred = embed_images(probe, degrade(images[:, 1], seed=3))
    _, percentile = retrieval_scores(clean, blurred)
    assert percentile > 0.98   # measured 0.9998


def test_other_sizes_are_resized(probe, heldout):
    _, images = heldout
    big = np.repeat(np.repeat(images[:8, 0], 2, axis=1), 2, axis=2)      # 64x64 of the same faces
    sim = (embed_images(probe, big) * embed_images(probe, images[:8, 0])).sum(1)
    assert sim.min() > 0.8


def test_save_load_round_trip(probe, heldout, tmp_path):
    save_probe(probe, tmp_path / "p")
    again = load_probe(tmp_path / "p")
    x = heldout[1][:4, 0]
    np.testing.assert_array_equal(embed_images(probe, x), embed_images(again, x))


@pytest.mark.parametrize("bad", [
    np.zeros((2, 32, 32, 3), np.float32),      # wrong dtype
    np.zeros((32, 32, 3), np.uint8),           # no batch axis
    np.zeros((2, 32, 32), np.uint8),           # no channels
    np.zeros((0, 32, 32, 3), np.uint8),        # empty
    [[0, 1, 2]],                               # not an array
])
def test_bad_images_raise(probe, bad):
    with pytest.raises(InputError, match="uint8 array|empty"):
        embed_images(probe, bad)
    with pytest.raises(InputError, match="uint8 array|empty"):
        predict_attributes(probe, bad)


def test_missing_or_broken_weights_raise(tmp_path):
    with pytest.raises(InputError, match="no probe"):
        load_probe(tmp_path / "nowhere")
    folder = save_probe(Probe(ProbeConfig()), tmp_path / "p")
    config = json.loads((folder / "config.json").read_text())
    config["widths"] = [8, 8, 8]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match="do not fit"):
        load_probe(folder)


def test_training_lowers_the_loss():
    """A tiny training run (seconds) lowers the summed loss and returns an eval-mode probe."""
    torch.set_num_threads(1)
    cfg = ProbeTrainConfig(n_identities=40, images_per_identity=4, steps=24, batch=32, eval_identities=20,
                           eval_images=2)
    probe, metrics = train_probe(cfg, progress=False)
    assert not probe.training
    assert metrics["loss_last"] < 0.9 * metrics["loss_first"], metrics
