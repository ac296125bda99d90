"""Direction scores (w2w_core.evaluate.directions) and the local direction estimators (w2w_core/local_directions.py,
which benchmarks/local_directions.py runs on the zoo) on planted coefficients: where the attribute's move depends
on the region of the space, directions fit near each identity must score above the global one and above as many
random models; where it does not, they must not."""
import numpy as np
import pytest

from w2w_core.attribute_model import label_regression
from w2w_core.evaluate import move_cosines, other_moves
from w2w_core.local_directions import label_residuals, scores

N, M, QUERIES = 3000, 3, 12


def _planted(local: bool, seed: int = 0) -> tuple:
    """Reference models and query identities; the attribute (column 0) moves models along e0 where the third
    coordinate is positive and along e1 elsewhere (local), or along e0 + e1 everywhere (global)."""
    rng = np.random.default_rng(seed)
    reference, labels = rng.normal(size=(N, M)), rng.random((N, 2)) < 0.4
    upper = reference[:, 2] > 0
    if local:
        reference[labels[:, 0] & upper, 0] += 1.0
        reference[labels[:, 0] & ~upper, 1] += 1.0
    else:
        reference[labels[:, 0]] += np.array([0.7, 0.7, 0.0])
    queries = rng.normal(size=(QUERIES, M))
    queries[:, 2] = (0.5 + np.abs(queries[:, 2])) * np.where(np.arange(QUERIES) % 2, 1.0, -1.0)
    if local:
        moves = np.where((queries[:, 2] > 0)[:, None], np.eye(M)[0], np.eye(M)[1])
    else:
        moves = np.tile([0.7, 0.7, 0.0], (QUERIES, 1))
    intercept, shifts = label_regression(reference, labels)
    query_labels = np.zeros((QUERIES, 2), bool)
    return (label_residuals(queries, query_labels, intercept, shifts), moves, reference,
            label_residuals(reference, labels, intercept, shifts), labels)


def test_directions_fit_near_each_identity_find_a_move_that_depends_on_the_region():
    result = scores(*_planted(local=True), 0, {}, [150], seed=0)
    assert result["nearest 150"][0] > result["all models"][0] + 0.08
    assert result["nearest 150"][0] > result["random 150"][0] + 0.08


def test_they_gain_nothing_when_every_identity_moves_the_same_way():
    result = scores(*_planted(local=False), 0, {}, [150], seed=0)
    assert result["all models"][0] > 0.99
    assert result["nearest 150"][0] < result["all models"][0]


def test_cosines_and_the_leave_one_out_mean_of_the_other_moves():
    moves = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]])
    np.testing.assert_allclose(other_moves(moves), [[1.5, 1.0], [2.0, 0.0], [0.5, 1.0]])
    np.testing.assert_allclose(move_cosines(np.array([1.0, 0.0]), moves), [1.0, 0.0, 1.0])
    np.testing.assert_allclose(move_cosines(np.zeros(2), moves), [0.0, 0.0, 0.0])  # an empty direction scores 0


def test_weight_space_cosines_of_two_directions_through_the_space():
    """|cos| in weight space: components and per-parameter scale applied to the directions' coefficients."""
    from types import SimpleNamespace

    from w2w_core.evaluate import weight_space_cosines

    space = SimpleNamespace(components=np.eye(3)[:, :2], std=np.array([1.0, 2.0, 1.0]))
    directions = SimpleNamespace(vectors=np.array([[1.0, 0.0], [1.0, 1.0], [0.0, -1.0]]), m=2,
                                 names=("a", "b", "c"))
    cosines = weight_space_cosines(space, directions, (("a", "b"), ("a", "c"), ("b", "c")))
    assert cosines == {"a-b": pytest.approx(1 / np.sqrt(5)), "a-c": pytest.approx(0.0),
                       "b-c": pytest.approx(2 / np.sqrt(5))}
