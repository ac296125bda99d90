"""The LoRA layout, and weight vectors <-> LoRA adapters <-> diffusers LoRA files.

weights2weights treats each identity's LoRA as one point in weight space
(paper Sec. 3.1): the rank-1 factors of every targeted attention projection,
flattened in a fixed order into one vector theta. `LoraLayout` is that order
(keys and shapes) plus what it takes to rebuild the adapter (rank, alpha,
target modules, init seed, base model), and serialises to JSON so a stored row
becomes a LoRA file without the code that wrote it.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
from safetensors import safe_open

from w2w_core.errors import InputError, LayoutMismatchError

ADAPTER = "w2w"
FILE_PREFIX = "unet."  # diffusers' LoRA files name UNet tensors unet.<module>.lora_A.weight


@dataclass(frozen=True)
class LoraSpec:
    """Which LoRA to train: the weights2weights reference uses rank 1 on to_q and to_v."""

    target_modules: tuple[str, ...] = ("to_q", "to_v")  # module-name suffixes, in self- and cross-attention
    rank: int = 1  # rank of every adapter
    alpha: float = 1.0  # LoRA scale is alpha / rank
    init_seed: int = 0  # one init for every identity: rank-1 factors have a sign/scale ambiguity


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
    def from_dict(cls, data: dict) -> "LoraLayout":
        spec = LoraSpec(tuple(data["target_modules"]), int(data["rank"]), float(data["alpha"]), int(data["init_seed"]))
        shapes = tuple(tuple(int(n) for n in shape) for shape in data["shapes"])
        return cls(tuple(data["keys"]), shapes, spec, data["base_model_id"], data["base_model_hash"])

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> "LoraLayout":
        return cls.from_dict(json.loads(text))


def _peft_config(spec: LoraSpec) -> LoraConfig:
    return LoraConfig(r=spec.rank, lora_alpha=spec.alpha, target_modules=list(spec.target_modules), init_lora_weights=True)


def check_target_modules(unet: torch.nn.Module, spec: LoraSpec) -> None:
    """Every target must name at least one linear layer of the UNet; say which do not."""
    names = [name for name, _ in unet.named_modules() if ".lora_" not in name and "base_layer" not in name]
    missing = [t for t in spec.target_modules if not any(n == t or n.endswith("." + t) for n in names)]
    if missing:
        examples = sorted({n.rsplit(".", 1)[-1] for n in names if ".attn" in n} - {"0", "1"})
        raise InputError(f"unknown LoRA target module(s) {missing}: the UNet's attention layers are named {examples}")


def attach_lora(unet: torch.nn.Module, spec: LoraSpec, base_model_id: str, base_model_hash: str) -> LoraLayout:
    """Add a freshly initialised adapter (seeded by spec.init_seed) and return its layout."""
    check_target_modules(unet, spec)
    if ADAPTER in getattr(unet, "peft_config", {}):
        unet.delete_adapters(ADAPTER)
    with torch.random.fork_rng():
        torch.manual_seed(spec.init_seed)
        unet.add_adapter(_peft_config(spec), adapter_name=ADAPTER)
    unet.set_adapter(ADAPTER)
    state = lora_state_dict(unet)
    return LoraLayout(tuple(state), tuple(tuple(t.shape) for t in state.values()), spec, base_model_id, base_model_hash)


def lora_state_dict(unet: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The adapter's tensors under diffusers/peft names (module.lora_A.weight)."""
    return dict(get_peft_model_state_dict(unet, adapter_name=ADAPTER))


def flatten(state_dict: dict[str, torch.Tensor], layout: LoraLayout) -> np.ndarray:
    """theta: the adapter's tensors concatenated in layout order, as one float32 vector."""
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


def check_vector(vector: np.ndarray, layout: LoraLayout) -> np.ndarray:
    vector = np.asarray(vector)
    if vector.ndim != 1 or vector.shape[0] != layout.n_params:
        raise LayoutMismatchError(
            f"weight vector has shape {vector.shape}, but the layout of {layout.base_model_id} "
            f"(rank {layout.spec.rank}, targets {list(layout.spec.target_modules)}) has {layout.n_params} parameters"
        )
    if not np.all(np.isfinite(vector)):
        raise InputError("weight vector contains NaN or infinite values")
    return vector.astype(np.float32, copy=False)


def check_state_dict(state_dict: dict[str, torch.Tensor], layout: LoraLayout, what: str) -> None:
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


def load_vector(unet: torch.nn.Module, vector: np.ndarray, layout: LoraLayout) -> None:
    """Put theta into the UNet's attached adapter."""
    result = set_peft_model_state_dict(unet, unflatten(vector, layout), adapter_name=ADAPTER)
    if getattr(result, "unexpected_keys", None):
        raise LayoutMismatchError(f"the UNet's adapter has no place for {result.unexpected_keys[:1]}")


def export_lora_file(vector: np.ndarray, layout: LoraLayout, path: str | Path) -> Path:
    """Write theta as a diffusers LoRA .safetensors that `pipe.load_lora_weights` loads.

    Written to a temporary folder and moved into place, so a crash leaves no half file.
    """
    from diffusers import StableDiffusionPipeline

    path = Path(path)
    tensors = unflatten(vector, layout)
    metadata = {"r": layout.spec.rank, "lora_alpha": layout.spec.alpha, "target_modules": list(layout.spec.target_modules)}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as folder:
        StableDiffusionPipeline.save_lora_weights(
            folder, unet_lora_layers=tensors, weight_name="lora.safetensors", unet_lora_adapter_metadata=metadata
        )
        os.replace(Path(folder, "lora.safetensors"), path)
    return path


def import_lora_file(path: str | Path, layout: LoraLayout) -> np.ndarray:
    """Read a diffusers LoRA file back into a vector, checking it against the layout."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"LoRA file {path} does not exist")
    try:
        with safe_open(path, framework="pt") as file:
            tensors = {k.removeprefix(FILE_PREFIX): file.get_tensor(k) for k in file.keys()}
    except Exception as error:  # safetensors raises its own error types for corrupt headers
        raise InputError(f"{path} is not a readable safetensors LoRA file: {error}") from error
    check_state_dict(tensors, layout, f"LoRA file {path}")
    return flatten(tensors, layout)


