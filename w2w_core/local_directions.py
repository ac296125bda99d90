"""Directions fit near each identity, to compare with one global direction (issue 11, the local-directions study).

A direction here is a unit vector in the space's first m coefficients. `mean_difference` is the plain
estimator (mean β of the models with the attribute minus mean β of those without); `local_directions`
applies it to the K reference models nearest each identity, with nearness measured once the labels'
average effects are taken out (`label_residuals`), or to K random ones (the same estimator noise without
locality). `scores` rates every candidate by its cosine with each identity's true move
(w2w_core.evaluate.directions), beside the global fits handed in.
"""
from __future__ import annotations

import numpy as np

from w2w_core.evaluate.directions import mean_and_error, move_cosines, other_moves


def mean_difference(beta: np.ndarray, has: np.ndarray) -> np.ndarray:
    """Unit vector from the mean of the models without the attribute to the mean of those with it
    (zero when one side is empty)."""
    if has.all() or not has.any():
        return np.zeros(beta.shape[1])
    d = beta[has].mean(axis=0) - beta[~has].mean(axis=0)
    return d / np.linalg.norm(d)


def label_residuals(beta: np.ndarray, labels: np.ndarray, intercept: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Where each model lies once the labels' average effects are taken out (w2w_core.attribute_model's
    regression): the position neighbours are found by, so that choosing them does not choose the attribute's
    own effect (neighbours in β itself would cancel the very difference being estimated)."""
    return beta - intercept - np.asarray(labels, np.float64) @ shifts


def local_directions(queries: np.ndarray, positions: np.ndarray, reference: np.ndarray, has: np.ndarray, k: int,
                     rng: np.random.Generator | None) -> np.ndarray:
    """Per query position, the mean difference over the k reference models whose `positions` lie nearest,
    or over k random ones when `rng` is given."""
    out = []
    for q in queries:
        if rng is None:
            chosen = np.argpartition(np.linalg.norm(positions - q, axis=1), k - 1)[:k]
        else:
            chosen = rng.choice(len(reference), size=k, replace=False)
        out.append(mean_difference(reference[chosen], has[chosen]))
    return np.stack(out)


def scores(queries: np.ndarray, moves: np.ndarray, reference: np.ndarray, positions: np.ndarray,
           labels: np.ndarray, a: int, global_fits: dict[str, np.ndarray], neighbours: list[int],
           seed: int) -> dict[str, list[float]]:
    """{direction: [mean cosine with the true moves, its standard error]} for attribute column a; the local
    directions take the reference models nearest each query in `positions` (rows of `reference`)."""
    has = labels[:, a]
    candidates = {name: vectors[a] for name, vectors in global_fits.items()}
    candidates["all models"] = mean_difference(reference, has)
    for k in neighbours:
        candidates[f"nearest {k}"] = local_directions(queries, positions, reference, has, k, None)
        candidates[f"random {k}"] = local_directions(queries, positions, reference, has, k,
                                                     np.random.default_rng(seed))
    candidates["other moves"] = other_moves(moves)
    return {name: mean_and_error(move_cosines(directions, moves)) for name, directions in candidates.items()}
