import numpy as np
import pytest

from w2w_core.errors import InputError
from w2w_core.evaluate import attribute_accuracy, fidelity_percentiles, identity_centroids, rank_percentile


def test_rank_percentile_extremes_and_chance():
    gallery = np.eye(5)
    assert rank_percentile(gallery[2], gallery, 2) == 1.0
    assert rank_percentile(gallery[2], gallery, 0) == 0.0
    rng = np.random.default_rng(0)
    random = [rank_percentile(rng.normal(size=5), gallery, 0) for _ in range(2000)]
    assert 0.45 < np.mean(random) < 0.55


def test_centroids_are_unit_means_per_identity():
    embeddings = np.array([[1, 0], [1, 0], [0, 2], [0, 4]], float)
    np.testing.assert_allclose(identity_centroids(embeddings, 2), [[1, 0], [0, 1]])
    with pytest.raises(InputError):
        identity_centroids(embeddings, 3)


def test_fidelity_of_perfect_and_shuffled_generations():
    references = np.eye(4)
    assert fidelity_percentiles(references, references).tolist() == [1.0] * 4
    assert fidelity_percentiles(references[[1, 0, 3, 2]], references).tolist() == [0.0] * 4


def test_attribute_accuracy_respects_mask():
    prompted = np.array([[1, 0], [1, 1]], bool)
    predicted = np.array([[1, 1], [0, 1]], bool)
    np.testing.assert_allclose(attribute_accuracy(predicted, prompted), [0.5, 0.5])
    mask = np.array([[1, 0], [0, 0]], bool)
    accuracy = attribute_accuracy(predicted, prompted, mask)
    assert accuracy[0] == 1.0 and np.isnan(accuracy[1])


def test_id_scores_are_mean_cosines_to_the_own_centroid():
    from w2w_core.evaluate import id_scores

    centroids = np.eye(3, 4)
    embeddings = np.stack([centroids[0], centroids[0], centroids[1], -centroids[1], centroids[0], centroids[2]])
    assert id_scores(embeddings, 3, centroids).tolist() == [1.0, 0.0, 0.5]
    with pytest.raises(InputError, match="do not match"):
        id_scores(embeddings[:5], 3, centroids)


def test_spread_between_models_and_within_one():
    from w2w_core.evaluate import centroid_cosines, majority, paired_cosines, spread_between_and_within

    same = np.tile(np.eye(4)[:1], (3, 1))  # 3 images of one direction
    embeddings = np.stack([same, np.tile(np.eye(4)[1:2], (3, 1))])  # two models, orthogonal, no spread inside
    between, within = spread_between_and_within(embeddings)
    assert between == pytest.approx(1.0) and within == pytest.approx(0.0)
    assert centroid_cosines(embeddings, np.eye(4)[:2]).tolist() == [1.0, 1.0]
    assert paired_cosines(embeddings, embeddings[::-1]).tolist() == [0.0, 0.0]
    assert majority(np.array([[[1, 0], [1, 1], [0, 0]]], bool)).tolist() == [[True, False]]


def test_models_whose_images_only_follow_the_noise_are_as_far_apart_as_their_own_images():
    """Three copies of one model that draws a different face per noise seed: no identity at all. Pairs of
    images with the same noise are alike in every model; counting them would make `between` look smaller."""
    from w2w_core.evaluate import spread_between_and_within

    per_noise = np.eye(4)  # image i of every model: direction i
    between, within = spread_between_and_within(np.stack([per_noise] * 3))
    assert between == pytest.approx(within) == pytest.approx(1.0)


def test_flip_rates_count_the_models_whose_reading_changed_at_each_strength():
    from w2w_core.evaluate import flip_rates

    had = np.array([True, False, False, True])
    after = np.array([[True, False, False, True], [False, False, True, True], [False, True, True, False]])
    np.testing.assert_allclose(flip_rates(after, had), [0.0, 0.5, 1.0])
    with pytest.raises(InputError):
        flip_rates(after[:, :3], had)


def test_edit_scores_count_flips_preserved_readings_and_identity_to_the_unedited_model():
    """Three models edited along attribute 0 towards what they lacked: two flip, one keeps every other reading;
    the ID score to the unedited model is the mean paired cosine (and, apart, over the flipped ones)."""
    from w2w_core.evaluate import edit_scores, flip_rates, preserved_rate

    before = np.array([[False, True, False], [True, True, True], [False, False, False]])
    after = np.array([[True, True, False], [False, False, True], [False, True, True]])
    targets = ~before[:, 0]
    e = np.eye(2)
    before_embeddings = np.stack([np.stack([e[0], e[0]])] * 3)  # [3 models, 2 images, 2]
    embeddings = np.stack([np.stack([e[0], e[0]]), np.stack([e[1], e[1]]), np.stack([e[0], e[1]])])
    scores = edit_scores(after, embeddings, targets, 0, before, before_embeddings)
    assert scores["flip"] == pytest.approx(2 / 3) == flip_rates(after[None, :, 0], before[:, 0])[0]
    assert scores["preserved"] == pytest.approx(3 / 6) == preserved_rate(after, before, 0)
    assert scores["id_unedited"] == pytest.approx((1.0 + 0.0 + 0.5) / 3)
    assert scores["id_flipped"] == pytest.approx(0.5) and scores["identities"] == 3
    unflipped = edit_scores(before, before_embeddings, targets, 0, before, before_embeddings)
    assert unflipped["flip"] == 0.0 and np.isnan(unflipped["id_flipped"]) and unflipped["preserved"] == 1.0


def test_truth_scores_and_the_bars_verdict():
    from w2w_core.evaluate import FLIP_BAR, meets_bars, truth_scores

    e = np.eye(3)
    twins = np.stack([np.stack([e[0], e[0]]), np.stack([e[1], e[1]])])
    again = np.stack([np.stack([e[0], e[2]]), np.stack([e[1], e[1]])])
    unedited = np.stack([np.stack([e[2], e[2]]), np.stack([e[1], e[1]])])
    edited = np.stack([np.stack([e[0], e[1]]), np.stack([e[1], e[1]])])
    scores = truth_scores(edited, twins, again, unedited)
    assert scores == {"id_truth": pytest.approx(0.75), "truth_ceiling": pytest.approx(0.75),
                      "perfect_edit_id": pytest.approx(0.5)}
    row = {"flip": FLIP_BAR, "preserved": 0.95, "id_unedited": 0.6}
    assert meets_bars(row, None) and meets_bars(row, {"id_unedited": 0.5})
    assert not meets_bars(row, {"id_unedited": 0.7}) and not meets_bars({**row, "flip": 0.8}, None)


def test_sample_distances_frequencies_centroids_and_the_closest_identity():
    from w2w_core.evaluate import (
        attribute_frequencies,
        centroid_pair_cosines,
        closest_identity,
        mean_apart,
        model_centroids,
        paired_apart,
    )

    e = np.eye(3)
    embeddings = np.stack([np.stack([e[0], e[1]]), np.stack([e[2], e[2]])])  # [2 models, 2 images, 3]
    centroids = model_centroids(embeddings)
    np.testing.assert_allclose(centroids, [[2 ** -0.5, 2 ** -0.5, 0], [0, 0, 1]])
    assert mean_apart(np.eye(3)) == pytest.approx(1.0) and mean_apart(np.stack([e[0], e[0]])) == pytest.approx(0.0)
    assert paired_apart(centroids, centroids) == pytest.approx(0.0)
    assert paired_apart(e[:2], e[1:]) == pytest.approx(1.0)
    np.testing.assert_allclose(centroid_pair_cosines(centroids, np.stack([e[0], e[2]])), [2 ** -0.5, 1.0])
    readings = np.array([[True, False], [True, True], [False, False], [True, False]])
    assert attribute_frequencies(readings, ["a", "b"], ["b", "a"]) == {"b": 0.25, "a": 0.75}
    assert closest_identity(embeddings, e).tolist() == [0, 2]


def test_world_renders_and_truly_edited_twins():
    """The renders a score compares with: the identity's (other nuisance for another variation seed), and its
    twin's, with the attribute truly set."""
    from w2w_core import world
    from w2w_core.evaluate import renders, twin_renders

    seeds = world.heldout_seeds(2)
    images = renders(seeds, 2)
    assert images.shape == (2, 2, 32, 32, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[1], world.render_identity(world.make_identity(seeds[1]), 2, 32))
    assert not np.array_equal(images, renders(seeds, 2, variation_seed=1))
    has = [world.make_identity(s).attributes["beard"] for s in seeds]
    targets = [not h for h in has]
    twins = twin_renders(seeds, "beard", targets, 2)
    assert twins.shape == images.shape and not np.array_equal(twins, images)
    assert not np.array_equal(twin_renders(seeds, "beard", targets, 2, variation_seed=1), twins)
