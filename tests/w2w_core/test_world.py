"""The embedded identity world: determinism, correlations, split, nuisance, prompts, bad input."""
import dataclasses
import re

import numpy as np
import pytest

from w2w_core import world
from w2w_core.errors import InputError
from w2w_core.world import (
    ATTRIBUTES,
    CLASS_PROMPT,
    INSTANCE_PROMPT,
    PROMPT_WORDS,
    STYLES,
    attribute_vector,
    heldout_seeds,
    is_heldout,
    make_identity,
    prompt_for,
    render_identities,
    render_identity,
    train_seeds,
)
from w2w_core.world.identity import CHUBBY_MIN_WEIGHT, SMILING_MIN_SMILE, YOUNG_MAX_AGE
from w2w_core.world.render import nuisance, render_params

N_POP = 2000


@pytest.fixture(scope="module")
def population():
    ids = [make_identity(s) for s in range(N_POP)]
    return ids, np.stack([attribute_vector(i) for i in ids])


def col(name):
    return ATTRIBUTES.index(name)


def test_identity_is_deterministic_per_seed():
    a, b = make_identity(123), make_identity(123)
    assert a == b and a.params.to_array().tolist() == b.params.to_array().tolist()
    assert make_identity(124).params != a.params


def test_renders_are_deterministic_and_prefix_stable():
    ident = make_identity(7)
    x = render_identity(ident, n_images=6, variation_seed=2)
    assert x.shape == (6, 32, 32, 3) and x.dtype == np.uint8
    np.testing.assert_array_equal(x, render_identity(ident, n_images=6, variation_seed=2))
    np.testing.assert_array_equal(x[:3], render_identity(ident, n_images=3, variation_seed=2))
    assert not np.array_equal(x, render_identity(ident, n_images=6, variation_seed=3))
    assert len({img.tobytes() for img in x}) == 6   # nuisance really varies


def test_batched_render_equals_per_identity_render():
    ids = [make_identity(s) for s in (3, 9, 40)]
    batch = render_identities(ids, n_images=4, size=24)
    for k, ident in enumerate(ids):
        np.testing.assert_array_equal(batch[k], render_identity(ident, n_images=4, size=24))


@pytest.mark.parametrize("style", STYLES)
def test_styles_render_and_differ(style):
    ident = make_identity(11)
    x = render_identity(ident, n_images=2, size=40, style=style)
    assert x.shape == (2, 40, 40, 3) and x.dtype == np.uint8
    if style != "photo":
        assert np.abs(x.astype(int) - render_identity(ident, 2, 40).astype(int)).mean() > 5


def test_attribute_frequencies_are_moderate(population):
    _, attrs = population
    freq = attrs.mean(0)
    for name, p in zip(ATTRIBUTES, freq):
        assert 0.12 < p < 0.62, f"{name} frequency {p:.3f}"


def test_attribute_correlations_like_celeba(population):
    _, a = population
    male, young = a[:, col("male")], a[:, col("young")]
    beard, bald, glasses = a[:, col("beard")], a[:, col("bald")], a[:, col("glasses")]
    assert not beard[~male].any()                      # beard only on men
    assert 0.3 < beard[male].mean() < 0.7              # ... and not on all of them
    assert bald[male].mean() > 5 * bald[~male].mean()  # bald mostly men
    assert bald[male & ~young].mean() > 2 * bald[male & young].mean()   # more with age
    assert glasses[~young].mean() > 1.5 * glasses[young].mean()
    long_hair = a[:, col("long_hair")]
    assert not (long_hair & bald).any()
    assert long_hair[~male].mean() > 3 * long_hair[male].mean()


def test_attribute_vector_matches_mapping():
    ident = make_identity(5)
    vec = attribute_vector(ident)
    assert vec.dtype == bool and vec.shape == (len(ATTRIBUTES),)
    assert [ident.attributes[n] for n in ATTRIBUTES] == vec.tolist()


def test_split_is_fixed_and_disjoint():
    tr, ho = train_seeds(900), heldout_seeds(100)
    assert not set(tr) & set(ho)
    assert all(is_heldout(s) for s in ho) and not any(is_heldout(s) for s in tr)
    assert sorted(tr + ho) == list(range(1000))         # together they cover the seeds
    assert train_seeds(5, start=10) == tr[10:15] and heldout_seeds(3, start=4) == ho[4:7]


def _face_colour_stats(images):
    """Chromaticity (colour / brightness) of the face centre: blind to the lighting nuisance."""
    x = images.astype(np.float32) / 255 + 1e-3
    centre = x[:, 10:22, 10:22]
    chroma = centre / centre.sum(-1, keepdims=True)
    return np.concatenate([chroma.mean((1, 2)), chroma.std((1, 2))], axis=1).mean(0)


def test_nuisance_does_not_change_identity():
    """Two render sets of one identity (different nuisance draws) are nearer each other than to others."""
    ids = [make_identity(s) for s in heldout_seeds(60)]
    a = np.stack([_face_colour_stats(render_identity(i, 10, variation_seed=0)) for i in ids])
    b = np.stack([_face_colour_stats(render_identity(i, 10, variation_seed=1)) for i in ids])
    dist = ((a[:, None] - b[None]) ** 2).sum(-1)
    top1 = (dist.argmin(1) == np.arange(len(ids))).mean()   # measured 0.88; chance 1/60
    assert top1 > 0.7, f"only {top1:.2f} of identities matched their own renders"


# (parameter, the attribute's threshold, half a step across it, a same-sized step far from it)
STEPPED_CUES = [
    ("weight", CHUBBY_MIN_WEIGHT, 0.025, (0.30, 0.35)),
    ("age", YOUNG_MAX_AGE, 2.0, (22.0, 26.0)),
    ("smile", SMILING_MIN_SMILE, 0.03, (0.0, 0.06)),
]


def _render_with(param: str, value: float) -> np.ndarray:
    params = dataclasses.replace(make_identity(7).params, **{param: value})
    return render_params(params.to_array()[None].repeat(4, 0), nuisance(7, 0, 4)).astype(int)


@pytest.mark.parametrize("param, threshold, half_step, far_step", STEPPED_CUES)
def test_thresholded_attributes_change_the_picture_where_they_flip(param, threshold, half_step, far_step):
    # a probe (and a tiny diffusion model) can only learn an attribute whose look steps at its threshold
    across = np.abs(_render_with(param, threshold + half_step) - _render_with(param, threshold - half_step)).mean()
    away = np.abs(_render_with(param, far_step[1]) - _render_with(param, far_step[0])).mean()
    assert across > 3 * away and across > 0.5


def test_prompts_use_known_words():
    assert prompt_for(None) == CLASS_PROMPT == "a photo of a person"
    assert INSTANCE_PROMPT == "a photo of sks person"
    assert prompt_for({"male": True, "beard": True, "glasses": True}) == "a photo of a person, man, beard, glasses"
    assert prompt_for({"male": False, "beard": False}) == "a photo of a person, woman"
    for s in range(200):
        text = prompt_for(make_identity(s).attributes)
        assert re.fullmatch(r"[a-z]+( [a-z]+)*(, [a-z]+( [a-z]+)*)*", text), text
        assert set(text.replace(",", " ").split()) <= set(PROMPT_WORDS)
    assert set(INSTANCE_PROMPT.split()) <= set(PROMPT_WORDS)


@pytest.mark.parametrize("kwargs, message", [
    ({"n_images": 0}, "n_images"),
    ({"size": 0}, "size"),
    ({"style": "cubist"}, "style"),
    ({"variation_seed": -1}, "variation_seed"),
])
def test_bad_render_input_raises(kwargs, message):
    with pytest.raises(InputError, match=message):
        render_identity(make_identity(1), **kwargs)


def test_bad_seeds_and_attributes_raise():
    with pytest.raises(InputError, match="seed"):
        make_identity(-3)
    with pytest.raises(InputError, match="unknown attribute"):
        prompt_for({"moustache": True})
    with pytest.raises(InputError, match="n must be"):
        train_seeds(-1)
    with pytest.raises(InputError, match="at least one identity"):
        render_identities([])


@pytest.mark.parametrize("name", world.ATTRIBUTES)
def test_the_same_identity_with_one_attribute_truly_changed(name):
    from w2w_core.world.edits import attribute_changes, with_attribute

    changed_any = False
    for seed in world.train_seeds(40):
        identity = world.make_identity(seed)
        edited = with_attribute(identity, name, not identity.attributes[name])
        assert edited.attributes[name] != identity.attributes[name] and edited.seed == identity.seed
        changes = attribute_changes(identity, edited)
        # the attribute, and at most what it implies (e.g. no beard as a woman)
        assert name in changes and len(changes) <= 3
        changed_any |= not np.array_equal(world.render_identity(identity, 1, 32), world.render_identity(edited, 1, 32))
    assert changed_any
