"""Directions: how entangled two attributes' edits are, and how much of a true edit a direction carries."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def weight_space_cosines(space, directions, pairs: Sequence[tuple[str, str]]) -> dict[str, float]:
    """|cos| between two attributes' edit directions in weight space ((u V_mᵀ) ⊙ s), per pair of names
    (paper Fig. 9: entanglement falls as the number of models grows)."""
    vectors = (directions.vectors @ space.components[:, :directions.m].T) * space.std
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = {name: i for i, name in enumerate(directions.names)}
    return {f"{a}-{b}": float(abs(vectors[index[a]] @ vectors[index[b]])) for a, b in pairs}


def move_cosines(directions: np.ndarray, moves: np.ndarray) -> np.ndarray:
    """Cosine of each identity's direction (one [m] for all, or [n, m]) with its true move [n, m]: an edit along
    a unit direction u moves the model along its true edit by u . t / |t| of the step (0 for an empty one)."""
    directions = np.broadcast_to(directions, moves.shape)
    norms = np.linalg.norm(directions, axis=1) * np.linalg.norm(moves, axis=1)
    return np.einsum("nm,nm->n", directions, moves) / np.where(norms > 0, norms, 1.0)


def other_moves(moves: np.ndarray) -> np.ndarray:
    """Per identity, the mean of the other identities' true moves (leave one out): what one shared direction
    learnt from paired edits would be, an upper bound for any global direction."""
    return (moves.sum(axis=0, keepdims=True) - moves) / (len(moves) - 1)


def mean_and_error(values: np.ndarray) -> list[float]:
    """[mean, its standard error] over identities."""
    return [float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))]
