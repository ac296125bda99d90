"""The LoRA layout: which tensors a flattened weight vector θ holds, in what order.

weights2weights treats each identity's LoRA as one point in weight space
(paper Sec. 3.1): the rank-1 factors of every targeted attention projection,
flattened in a fixed order into one vector θ. `LoraLayout` is that order
(keys and shapes) plus what it takes to rebuild the adapter (rank, alpha,
target modules, init seed, base model), and serialises to JSON so a stored row
becomes a LoRA file without the code that wrote it. NumPy only.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from w2w_core.errors import InputError, LayoutMismatchError


@dataclass(frozen=True)
class LoraSpec:
    """Which LoRA to train: the weights2weights reference uses rank 1 on to_q and to_v."""

    target_modules: tuple[str, ...] = ("to_q", "to_v")  # module-name suffixes, in self- and cross-attention
    rank: int = 1  # rank of every adapter
    alpha: float = 1.0  # LoRA scale is alpha / rank
    init_seed: int = 0  # one init for every identity: rank-1 factors have a sign/scale ambiguity

    @property
    def scale(self) -> float:
        """The factor peft multiplies B A x by."""
        return self.alpha / self.rank


@dataclass(frozen=True)
class LoraLayout:
    """The order and shapes of a flattened LoRA, and the base model it belongs to."""

    keys: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    spec: LoraSpec
    base_model_id: str
    base_model_hash: str

    @property
    def n_params(self) -> int:
        return int(sum(np.prod(shape) for shape in self.shapes))

    def to_dict(self) -> dict:
        return {
            "keys": list(self.keys),
            "shapes": [list(shape) for shape in self.shapes],
            "rank": self.spec.rank,
            "alpha": self.spec.alpha,
            "target_modules": list(self.spec.target_modules),
            "init_seed": self.spec.init_seed,
            "base_model_id": self.base_model_id,
            "base_model_hash": self.base_model_hash,
            "n_params": self.n_params,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LoraLayout":
        spec = LoraSpec(tuple(data["target_modules"]), int(data["rank"]), float(data["alpha"]), int(data["init_seed"]))
        shapes = tuple(tuple(int(n) for n in shape) for shape in data["shapes"])
        return cls(tuple(data["keys"]), shapes, spec, data["base_model_id"], data["base_model_hash"])

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> "LoraLayout":
        return cls.from_dict(json.loads(text))


def check_vector(vector: np.ndarray, layout: LoraLayout) -> np.ndarray:
    """`vector` as float32 if it is one finite θ of `layout`; else a message naming what is wrong."""
    vector = np.asarray(vector)
    if vector.ndim != 1 or vector.shape[0] != layout.n_params:
        raise LayoutMismatchError(
            f"weight vector has shape {vector.shape}, but the layout of {layout.base_model_id} "
            f"(rank {layout.spec.rank}, targets {list(layout.spec.target_modules)}) has {layout.n_params} parameters"
        )
    if not np.all(np.isfinite(vector)):
        raise InputError("weight vector contains NaN or infinite values")
    return vector.astype(np.float32, copy=False)


def check_state_dict(state_dict: Mapping[str, Any], layout: LoraLayout, what: str) -> None:
    """Name the first missing, extra or wrongly shaped tensor between a LoRA and the layout."""
    missing = [k for k in layout.keys if k not in state_dict]
    extra = [k for k in state_dict if k not in set(layout.keys)]
    if missing or extra:
        raise LayoutMismatchError(
            f"{what} does not fit the base model's LoRA layout: {len(missing)} tensor(s) missing "
            f"(first: {missing[:1]}), {len(extra)} unexpected (first: {extra[:1]})"
        )
    for key, shape in zip(layout.keys, layout.shapes):
        if tuple(state_dict[key].shape) != shape:
            raise LayoutMismatchError(
                f"{what}: tensor {key} has shape {tuple(state_dict[key].shape)}, the layout expects {shape} "
                f"(rank {layout.spec.rank})"
            )
