"""Inversion into the w2w space: only β moves, images invert alike together or alone, masks and m are checked."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from w2w_core import world
from w2w_core.errors import InputError
from w2w_core.inversion.config import InversionConfig
from w2w_core.inversion.optimise import invert, model_of
from w2w_core.lora.adapter import layout_for
from w2w_core.lora.layout import LoraLayout, LoraSpec
from w2w_core.space import Space, project

IMAGES = np.stack([world.render_identity(world.make_identity(s), 1, 32)[0] for s in world.train_seeds(2)])
CONFIG = InversionConfig(steps=6, learning_rate=0.1)


@pytest.fixture()
def space_and_layout(untrained_base):
    layout = layout_for(untrained_base.pipe.unet, LoraSpec(), untrained_base.model_id, untrained_base.model_hash)
    rng = np.random.default_rng(0)
    d, k = layout.n_params, 12
    components, _ = np.linalg.qr(rng.standard_normal((d, k)))
    space = Space(mean=rng.normal(0, 0.05, d).astype(np.float32), std=np.full(d, 0.05, np.float32),
                  components=components.astype(np.float32), singular_values=np.linspace(5, 1, k),
                  explained_variance_ratio=np.full(k, 0.05), coef_mean=np.zeros(k), coef_std=np.linspace(2, 0.5, k),
                  row_ids=np.arange(20), fit_config={})
    return space, layout


def test_only_the_coefficients_move(untrained_base, space_and_layout):
    space, layout = space_and_layout
    before = {n: p.detach().clone() for n, p in untrained_base.pipe.unet.named_parameters()}
    [result] = invert(untrained_base, space, layout, IMAGES[:1], CONFIG, progress=False)
    after = dict(untrained_base.pipe.unet.named_parameters())
    assert all(torch.equal(before[n], after[n]) and after[n].grad is None for n in before)
    assert not any(m._forward_hooks for m in untrained_base.pipe.unet.modules())
    assert np.abs(result.coefficients).max() > 0  # β left the mean model
    np.testing.assert_allclose(project(space, result.vector), result.coefficients, atol=1e-4)  # θ lies in the space
    beta = torch.tensor(result.coefficients[None], dtype=torch.float32)
    np.testing.assert_allclose(model_of(space, beta, 12)[0].numpy(), result.vector, rtol=1e-6)


def test_images_inverted_together_equal_each_inverted_alone(untrained_base, space_and_layout):
    space, layout = space_and_layout
    together = invert(untrained_base, space, layout, IMAGES, CONFIG, progress=False)
    for i in range(2):
        [alone] = invert(untrained_base, space, layout, IMAGES[i:i + 1], CONFIG, progress=False)
        np.testing.assert_allclose(together[i].coefficients, alone.coefficients, rtol=1e-4, atol=1e-6)



def test_the_prior_term_changes_the_fit_and_keeps_images_independent(untrained_base, space_and_layout):
    space, layout = space_and_layout
    prior = replace(CONFIG, prior_weight=1.0, n_class_images=2)
    together = invert(untrained_base, space, layout, IMAGES, prior, progress=False)
    [alone] = invert(untrained_base, space, layout, IMAGES[1:], prior, progress=False)
    [plain] = invert(untrained_base, space, layout, IMAGES[1:], CONFIG, progress=False)
    np.testing.assert_allclose(together[1].coefficients, alone.coefficients, rtol=1e-4, atol=1e-6)
    assert not np.allclose(alone.coefficients, plain.coefficients)
    assert alone.final_loss > plain.final_loss  # the class term adds a loss of its own
    with pytest.raises(InputError, match="prior_weight"):
        replace(CONFIG, prior_weight=-1.0)

def test_a_mask_changes_what_is_fit_and_bad_masks_and_m_are_refused(untrained_base, space_and_layout):
    space, layout = space_and_layout
    half = np.zeros((32, 32), bool)
    half[:, :16] = True
    [plain] = invert(untrained_base, space, layout, IMAGES[:1], CONFIG, progress=False)
    [masked] = invert(untrained_base, space, layout, IMAGES[:1], CONFIG, masks=[half], progress=False)
    assert not np.allclose(plain.coefficients, masked.coefficients)
    with pytest.raises(InputError, match="keeps no pixel"):
        invert(untrained_base, space, layout, IMAGES[:1], CONFIG, masks=[np.zeros((32, 32), bool)], progress=False)
    with pytest.raises(InputError, match="of the image's size"):
        invert(untrained_base, space, layout, IMAGES[:1], CONFIG, masks=[np.ones((16, 16), bool)], progress=False)
    with pytest.raises(InputError, match="the space has 12"):
        invert(untrained_base, space, layout, IMAGES[:1], replace(CONFIG, m=13), progress=False)
    with pytest.raises(InputError, match="learning_rate"):
        replace(CONFIG, learning_rate=0)


def test_clamping_keeps_coefficients_within_the_training_spread(untrained_base, space_and_layout):
    space, layout = space_and_layout
    [result] = invert(untrained_base, space, layout, IMAGES[:1], replace(CONFIG, learning_rate=5.0, clamp=0.5),
                      progress=False)
    assert np.all(np.abs(result.coefficients) <= 0.5 * space.coef_std + 1e-6)


@pytest.mark.slow  # the fast tier's budget: scripts/test.sh --fast
def test_inverting_a_zoo_rows_own_renders_lands_nearest_that_rows_coefficients():
    """The real model and a space fit on 800 zoo rows: a row's own training renders, inverted with the
    reference recipe (400 steps, all k components), land nearer that row's coefficients than any other
    row's (cosine over the k coefficients), and single renders within the nearest 2 % of rows."""
    from storage.weight_store import WeightStore
    from tasks.config import ZOO_DIR
    from w2w_core.base_model import load_base_model
    from w2w_core.identities.world import WorldSource
    from w2w_core.pca import ArrayMatrix, PCAConfig, fit_pca
    from w2w_core.space import space_from_fit

    n, rows, per = 800, (0, 1), 4
    zoo = WeightStore.open(str(ZOO_DIR), read_only=True)
    x = zoo.read_rows(range(n)).astype(np.float32)
    space = space_from_fit(fit_pca(ArrayMatrix(x), PCAConfig(k=200)), np.arange(n), {})
    images = np.concatenate([WorldSource().images(r, 32)[:per] for r in rows])  # what those rows were trained on
    inverted = invert(load_base_model(), space, LoraLayout.from_dict(zoo.layout), images, progress=False)
    unit = lambda a: a / np.linalg.norm(a, axis=-1, keepdims=True)  # noqa: E731
    training = unit(project(space, x))
    coefficients = np.stack([r.coefficients for r in inverted]).reshape(len(rows), per, -1)
    for i, row in enumerate(rows):
        assert np.argmax(training @ unit(coefficients[i].mean(0))) == row
        ranks = [int((training @ unit(single) > training[row] @ unit(single)).sum()) for single in coefficients[i]]
        assert max(ranks) < n // 50  # measured: 0, 0, 0, 0 and 1, 7, 9, 4 rows nearer; chance would be 400
