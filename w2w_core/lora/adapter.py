"""The peft adapter on a UNet: its layout (without touching the UNet), attach, read, load.

Every identity starts from one shared init (`LoraSpec.init_seed`): rank-1
factors have a sign and scale ambiguity, and a shared start keeps θ of
different identities comparable (paper Sec. 3.1).
"""
from __future__ import annotations

import numpy as np
import torch
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict

from w2w_core.errors import InputError, LayoutMismatchError
from w2w_core.lora.layout import LoraLayout, LoraSpec
from w2w_core.lora.vectors import unflatten

ADAPTER = "w2w"
_PEFT_PARTS = (".lora_", ".base_layer")  # submodules peft adds inside a wrapped layer


def _own_modules(unet: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """The UNet's modules without peft's additions; a wrapped layer counts as its base layer."""
    return [(name, getattr(module, "base_layer", module)) for name, module in unet.named_modules()
            if not any(part in name for part in _PEFT_PARTS)]


def _is_target(name: str, spec: LoraSpec) -> bool:
    return any(name == t or name.endswith("." + t) for t in spec.target_modules)


def check_target_modules(unet: torch.nn.Module, spec: LoraSpec) -> None:
    """Every target must name at least one linear layer of the UNet; say which do not."""
    names = [name for name, _ in _own_modules(unet)]
    missing = [t for t in spec.target_modules if not any(_is_target(n, LoraSpec((t,))) for n in names)]
    if missing:
        examples = sorted({n.rsplit(".", 1)[-1] for n in names if ".attn" in n} - {"0", "1"})
        raise InputError(f"unknown LoRA target module(s) {missing}: the UNet's attention layers are named {examples}")


def layout_for(unet: torch.nn.Module, spec: LoraSpec, base_model_id: str, base_model_hash: str) -> LoraLayout:
    """The layout `attach_lora` would give, read off the UNet's linear layers; the UNet is not changed.

    peft names a targeted Linear's factors <module>.lora_A.weight [rank, in] and
    <module>.lora_B.weight [out, rank], in module order.
    """
    check_target_modules(unet, spec)
    keys, shapes = [], []
    for name, module in _own_modules(unet):
        if isinstance(module, torch.nn.Linear) and _is_target(name, spec):
            keys += [f"{name}.lora_A.weight", f"{name}.lora_B.weight"]
            shapes += [(spec.rank, module.in_features), (module.out_features, spec.rank)]
    return LoraLayout(tuple(keys), tuple(shapes), spec, base_model_id, base_model_hash)


def _peft_config(spec: LoraSpec) -> LoraConfig:
    return LoraConfig(r=spec.rank, lora_alpha=spec.alpha, target_modules=list(spec.target_modules),
                      init_lora_weights=True)


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


def load_vector(unet: torch.nn.Module, vector: np.ndarray, layout: LoraLayout) -> None:
    """Put θ into the UNet's attached adapter."""
    result = set_peft_model_state_dict(unet, unflatten(vector, layout), adapter_name=ADAPTER)
    if getattr(result, "unexpected_keys", None):
        raise LayoutMismatchError(f"the UNet's adapter has no place for {result.unexpected_keys[:1]}")
