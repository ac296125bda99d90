"""The embedded world as an identity source: row i is train (or held-out) identity number `seed_offset + i`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from w2w_core import world
from w2w_core.errors import InputError
from w2w_core.identities.source import IdentityRecord

SPLITS = {"train": world.train_seeds, "heldout": world.heldout_seeds}


@dataclass(frozen=True)
class WorldSource:
    """Identities of the procedural world, `images_per_identity` renders each (nuisance varies): its train
    identities, or (split "heldout") the ones reserved for evaluation, which no training store holds."""

    seed_offset: int = 0
    images_per_identity: int = 10
    split: str = "train"  # "train" or "heldout"
    attribute_names: tuple[str, ...] = world.ATTRIBUTES
    n_identities: int | None = None  # unbounded: the world has a train identity for every row

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise InputError(f"unknown world split {self.split!r}: choose one of {', '.join(SPLITS)}")

    def seed(self, index: int) -> int:
        return SPLITS[self.split](1, start=self.seed_offset + int(index))[0]

    def identity_id(self, index: int) -> str:
        return identity_id(self.seed(index))

    def record(self, index: int) -> IdentityRecord:
        seed = self.seed(index)
        return IdentityRecord(identity_id(seed), world.attribute_vector(world.make_identity(seed)), seed)

    def images(self, index: int, size: int) -> np.ndarray:
        return world.render_identity(world.make_identity(self.seed(index)), self.images_per_identity, size)

    def description(self) -> dict[str, Any]:
        return {"source": "world", "seeds": f"w2w_core.world.{SPLITS[self.split].__name__}",
                "seed_offset": self.seed_offset, "images_per_identity": self.images_per_identity}


def identity_id(seed: int) -> str:
    """The id of world identity `seed` in a store: "world-<seed>"."""
    return f"world-{int(seed)}"
