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
