"""θ <-> the adapter's tensors: concatenate in layout order, and split back (exact in float32); and the
weight changes ΔW = scale · B A the adapter makes, which the factors determine only up to B c, A / c."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from w2w_core.lora.layout import LoraLayout, check_state_dict, check_vector


def flatten(state_dict: Mapping[str, torch.Tensor], layout: LoraLayout) -> np.ndarray:
    """θ: the adapter's tensors concatenated in layout order, as one float32 vector."""
    check_state_dict(state_dict, layout, "state dict")
    return torch.cat([state_dict[k].detach().reshape(-1).float().cpu() for k in layout.keys]).numpy()


def unflatten(vector: np.ndarray, layout: LoraLayout) -> dict[str, torch.Tensor]:
    """The inverse of flatten: exact, since both keep float32."""
    vector = check_vector(vector, layout)
    tensors, offset = {}, 0
    for key, shape in zip(layout.keys, layout.shapes):
        size = int(np.prod(shape))
        tensors[key] = torch.from_numpy(vector[offset : offset + size].copy()).reshape(shape)
        offset += size
    return tensors


def weight_deltas(vector: np.ndarray, layout: LoraLayout) -> np.ndarray:
    """Every adapted layer's ΔW = scale · B A, flattened in layout order: what the model computes with.

    Two factorings of one ΔW (B c and A / c) are far apart as θ but equal here, so distances between
    models measured on ΔW are free of the factors' scale and sign.
    """
    tensors = unflatten(vector, layout)
    deltas = [(tensors[key.replace("lora_A", "lora_B")] @ tensors[key]).reshape(-1) * layout.spec.scale
              for key in layout.keys if "lora_A" in key]
    return torch.cat(deltas).numpy()
