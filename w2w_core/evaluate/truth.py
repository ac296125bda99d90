"""The world's ground truth to score against: renders of identities by seed, and their truly edited twins.

Pure NumPy (the world's renderer); the probe reads these where a score needs embeddings.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from w2w_core import world
from w2w_core.world.edits import with_attribute

SIZE = 32  # the embedded world's image size, which the probe reads


def renders(seeds: Sequence[int], n: int, style: str = "photo", variation_seed: int = 0) -> np.ndarray:
    """`n` renders of each identity seed [len(seeds), n, 32, 32, 3]; another `variation_seed` draws other
    nuisance (position, scale, background, lighting) of the same identities."""
    return np.stack([world.render_identity(world.make_identity(int(s)), n, SIZE, style, variation_seed) for s in seeds])


def twin_renders(seeds: Sequence[int], attribute: str, targets: Sequence[bool], n: int,
                 variation_seed: int = 0) -> np.ndarray:
    """Renders of each identity's twin: the same identity with `attribute` truly set to its target."""
    twins = [with_attribute(world.make_identity(int(s)), attribute, bool(t)) for s, t in zip(seeds, targets)]
    return np.stack([world.render_identity(twin, n, SIZE, variation_seed=variation_seed) for twin in twins])
