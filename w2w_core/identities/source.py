"""What a source of identities offers the dataset: for each row, who it is and what it looks like."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class IdentityRecord:
    """One identity's labels: its id (the store's `identity` coordinate) and binary attributes."""

    identity_id: str
    labels: np.ndarray  # bool [n_attributes], in the source's attribute order
    world_seed: int = -1  # the embedded world's seed; -1 for identities from elsewhere


class IdentitySource(Protocol):
    """Identities numbered 0..len-1: row i of a weight store holds identity i of its source."""

    attribute_names: tuple[str, ...]
    n_identities: int | None  # how many it holds; None: as many as a dataset asks for

    def identity_id(self, index: int) -> str:
        """The id of identity `index` (cheap: no labels, no images)."""

    def record(self, index: int) -> IdentityRecord:
        """Who identity `index` is."""

    def images(self, index: int, size: int) -> np.ndarray:
        """Its training images, uint8 [n, size, size, 3]; a W2WError if they are missing or unreadable."""

    def description(self) -> dict[str, Any]:
        """JSON-able: what decides which images each row gets (the store records and checks it)."""
