"""What the probe reads off models' images: attributes by majority, and identity embeddings.

`Reader` is the one composition of the probe that the report (tasks/showcase.Gallery) and the
benchmarks use; the functions beside it only compare arrays. The probe (torch) is imported only
when a Reader reads, so importing this module stays light.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from w2w_core.evaluate.fidelity import model_centroids

if TYPE_CHECKING:
    from w2w_core.probe import Probe


def majority(readings: np.ndarray) -> np.ndarray:
    """Per model: bool [M, A] attributes read as true in more than half of its images (readings [M, n, A])."""
    return readings.mean(axis=1) > 0.5


def attribute_accuracy(predicted: np.ndarray, prompted: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Per attribute: how often the prediction equals what the prompt asked for (where mask is set)."""
    mask = np.ones_like(prompted, bool) if mask is None else mask
    hits = (predicted == prompted) & mask
    counts = mask.sum(0)
    return np.where(counts > 0, hits.sum(0) / np.maximum(counts, 1), np.nan)


@dataclass(frozen=True)
class Reader:
    """The probe over models' images [M, n, H, W, 3] (every model's images drawn with the same noise)."""

    probe: Probe

    @classmethod
    def load(cls, path: str | None = None) -> Reader:
        """A reader with the probe in `path`, or the shipped one."""
        from w2w_core.probe import load_probe

        return cls(load_probe(path))

    def read(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(attributes bool [M, A] by majority over each model's images, unit embeddings [M, n, E])."""
        from w2w_core.probe import read_models

        readings, embeddings = read_models(self.probe, images)
        return majority(readings), embeddings

    def centroids(self, images: np.ndarray) -> np.ndarray:
        """The unit centroid [M, E] of each model's image embeddings."""
        return model_centroids(self.read(images)[1])
