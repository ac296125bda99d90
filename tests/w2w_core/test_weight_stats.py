import numpy as np

from w2w_core.weight_stats import identity_share, relative_distance, shared_share


def test_relative_distance_is_per_row():
    a = np.array([[3.0, 4.0], [1.0, 0.0]])
    b = np.array([[3.0, 4.0], [0.0, 0.0]])
    assert relative_distance(a, b) == 0.5


def test_identity_share_recovers_the_planted_signal_variance():
    rng = np.random.default_rng(0)
    n, d, signal, noise = 400, 200, 0.4, 0.6
    identity = rng.normal(scale=np.sqrt(signal), size=(n, d))
    first, second = (identity + rng.normal(scale=np.sqrt(noise), size=(n, d)) for _ in range(2))
    other = np.roll(identity, 1, axis=0) + rng.normal(scale=np.sqrt(noise), size=(n, d))
    share = identity_share(first - second, first - other)
    assert abs(share - signal / (signal + noise)) < 0.02


def test_shared_share_is_one_for_one_move_and_near_zero_for_unrelated_moves():
    rng = np.random.default_rng(1)
    mu = rng.normal(size=300)
    assert abs(shared_share(np.tile(mu, (8, 1))) - 1) < 1e-12
    assert abs(shared_share(rng.normal(size=(16, 3000)))) < 0.01


def test_shared_share_is_unbiased_for_few_noisy_moves():
    rng = np.random.default_rng(2)
    mu = rng.normal(size=2000) * 0.5  # |mu|² / E|d|² = 0.25 / 1.25
    shares = [shared_share(mu + rng.normal(size=(8, 2000))) for _ in range(50)]
    assert abs(np.mean(shares) - 0.2) < 0.02
