"""θ <-> LoRA .safetensors files: diffusers' format (`pipe.load_lora_weights`) and kohya-ss's (A1111, ComfyUI).

Both carry, in the file's metadata, which base model and layout θ belongs to
(`w2w_layout`), so a file trained on another base model is refused by name
instead of loading as noise. Files are written beside their target and moved
into place: a crash never leaves half a file.
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np
from safetensors import safe_open

from w2w_core.errors import InputError, LayoutMismatchError
from w2w_core.files import write_atomic
from w2w_core.lora.layout import LoraLayout, check_state_dict

if TYPE_CHECKING:  # torch is imported where tensors are made: checking a file's header needs none
    import torch

FILE_PREFIX = "unet."  # diffusers' LoRA files name UNet tensors unet.<module>.lora_A.weight
KOHYA_PREFIX = "lora_unet_"  # kohya-ss names them lora_unet_<module with _>.lora_down.weight
LAYOUT_METADATA = "w2w_layout"


def _metadata(layout: LoraLayout) -> dict[str, str]:
    """diffusers' adapter metadata (rank, alpha, targets) and w2w's (base model and layout)."""
    spec = layout.spec
    adapter = {"unet.lora_alpha": spec.alpha, "unet.r": spec.rank, "unet.target_modules": list(spec.target_modules)}
    w2w = {"base_model_id": layout.base_model_id, "base_model_hash": layout.base_model_hash, "rank": spec.rank,
           "alpha": spec.alpha, "target_modules": list(spec.target_modules), "n_params": layout.n_params}
    return {"lora_adapter_metadata": json.dumps(adapter, indent=2), "format": "pt", LAYOUT_METADATA: json.dumps(w2w)}


def _write(tensors: dict[str, torch.Tensor], metadata: dict[str, str], path: str | Path) -> Path:
    from safetensors.torch import save

    return write_atomic(path, save({k: v.contiguous() for k, v in tensors.items()}, metadata=metadata))


def export_lora_file(vector: np.ndarray, layout: LoraLayout, path: str | Path) -> Path:
    """Write θ as a diffusers LoRA .safetensors that `pipe.load_lora_weights` loads."""
    from w2w_core.lora.vectors import unflatten

    tensors = {FILE_PREFIX + k: v for k, v in unflatten(vector, layout).items()}
    return _write(tensors, _metadata(layout), path)


def kohya_name(key: str) -> str:
    """'down_blocks.0....to_q.lora_A.weight' -> 'lora_unet_down_blocks_0_..._to_q.lora_down.weight'."""
    module, factor = key.rsplit(".lora_", 1)
    return f"{KOHYA_PREFIX}{module.replace('.', '_')}.{'lora_down' if factor.startswith('A') else 'lora_up'}.weight"


def export_kohya_file(vector: np.ndarray, layout: LoraLayout, path: str | Path) -> Path:
    """Write θ as a kohya-ss LoRA. Each module's `alpha` is the layout's, so a loader's scale
    alpha / rank is the one θ was trained with, and an edit is not weakened."""
    import torch

    from w2w_core.lora.vectors import unflatten

    tensors = {kohya_name(k): v for k, v in unflatten(vector, layout).items()}
    for key in layout.keys:
        if ".lora_A." in key:
            tensors[kohya_name(key).replace(".lora_down.weight", ".alpha")] = torch.tensor(float(layout.spec.alpha))
    metadata = {key: value for key, value in _metadata(layout).items() if key != "lora_adapter_metadata"}
    metadata.update(ss_network_dim=str(layout.spec.rank), ss_network_alpha=str(layout.spec.alpha))  # kohya's own
    return _write(tensors, metadata, path)


def _check_base_model(metadata: dict[str, str] | None, layout: LoraLayout, path: Path) -> None:
    recorded = json.loads((metadata or {}).get(LAYOUT_METADATA, "{}") or "{}")
    if recorded and recorded.get("base_model_hash") != layout.base_model_hash:
        raise LayoutMismatchError(
            f"LoRA file {path} was trained on {recorded.get('base_model_id')} "
            f"(hash {recorded.get('base_model_hash')}), "
            f"not on {layout.base_model_id} (hash {layout.base_model_hash}): use a model of that base")


def _from_kohya(raw: dict[str, torch.Tensor], layout: LoraLayout) -> dict[str, torch.Tensor]:
    """kohya tensors under the layout's names; a module whose alpha differs from the layout's has the
    ratio folded into its up factor (the same scale alpha / rank, whoever wrote the file)."""
    names = {kohya_name(key): key for key in layout.keys}
    tensors = {names.get(k, k): v for k, v in raw.items() if not k.endswith(".alpha")}
    for key in layout.keys:
        alpha = raw.get(kohya_name(key).replace(".lora_up.weight", ".alpha")) if ".lora_B." in key else None
        if alpha is not None and key in tensors and float(alpha) != layout.spec.alpha:
            tensors[key] = tensors[key] * (float(alpha) / layout.spec.alpha)
    return tensors


def read_lora_header(path: str | Path) -> tuple[dict[str, str], dict[str, tuple[int, ...]]]:
    """(metadata, tensor shapes) of a safetensors LoRA file, from its header alone (no tensor is read, no
    torch); a pickle, a missing file or a corrupt header is refused by name."""
    path = Path(path)
    refuse_pickle(path)
    if not path.is_file():
        raise InputError(f"LoRA file {path} does not exist")
    try:
        with safe_open(path, framework="numpy") as file:
            return file.metadata() or {}, {k: tuple(file.get_slice(k).get_shape()) for k in file.keys()}  # noqa: SIM118 - safe_open is not iterable
    except Exception as error:  # safetensors raises its own error types for corrupt headers
        raise InputError(f"{path} is not a readable safetensors LoRA file: {error}") from error


def check_lora_file(path: str | Path, layout: LoraLayout) -> None:
    """Refuse a LoRA file that cannot be θ of `layout`, from its header alone: a pickle, a missing or
    corrupt file, another base model, a tensor of another shape, missing or unexpected tensors."""
    metadata, shapes = read_lora_header(path)
    _check_base_model(metadata, layout, path)
    named = _layout_names(shapes, layout)
    check_shared_shapes(named, layout, f"LoRA file {path}")
    check_state_dict({k: SimpleNamespace(shape=v) for k, v in named.items()}, layout, f"LoRA file {path}")


def check_shared_shapes(shapes: dict[str, tuple[int, ...]], layout: LoraLayout, what: str) -> None:
    """A tensor named as in the layout but shaped otherwise means another base model (or rank): say which
    tensor and both shapes, before counting missing tensors, which alone would hide the reason."""
    expected = dict(zip(layout.keys, layout.shapes))
    differ = [(key, tuple(shape)) for key, shape in shapes.items() if key in expected and tuple(shape) != expected[key]]
    if differ:
        key, shape = differ[0]
        missing = sum(k not in shapes for k in layout.keys)
        raise LayoutMismatchError(
            f"{what} was made for another base model or rank: tensor {key} has shape {shape}, this base model's "
            f"layout expects {expected[key]} ({len(differ)} tensor(s) of other shapes, {missing} missing)")


def _layout_names(shapes: dict[str, tuple[int, ...]], layout: LoraLayout) -> dict[str, tuple[int, ...]]:
    """Tensor shapes under the layout's names (diffusers' unet. prefix or kohya's names removed)."""
    if any(k.startswith(KOHYA_PREFIX) for k in shapes):
        names = {kohya_name(key): key for key in layout.keys}
        return {names.get(k, k): v for k, v in shapes.items() if not k.endswith(".alpha")}
    return {k.removeprefix(FILE_PREFIX): v for k, v in shapes.items()}


def import_lora_file(path: str | Path, layout: LoraLayout) -> np.ndarray:
    """Read a diffusers or kohya LoRA file back into θ, checking it against the layout (header first)."""
    from w2w_core.lora.vectors import flatten

    path = Path(path)
    check_lora_file(path, layout)
    with safe_open(path, framework="pt") as file:
        raw = {k: file.get_tensor(k) for k in file.keys()}  # noqa: SIM118 - safe_open is not iterable
    if any(k.startswith(KOHYA_PREFIX) for k in raw):
        tensors = _from_kohya(raw, layout)
    else:
        tensors = {k.removeprefix(FILE_PREFIX): v for k, v in raw.items()}
    return flatten(tensors, layout)


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")  # loading these can run code: refused


def refuse_pickle(path: str | Path) -> None:
    """LoRA models are read from .safetensors only: a pickle-based file can run code when loaded."""
    if Path(path).suffix.lower() in PICKLE_SUFFIXES:
        raise InputError(f"{path} is a pickle file, which can run code when loaded: w2w reads LoRA models from "
                         ".safetensors only (convert it with safetensors first)")


def check_file_fits(path: str | Path, unet: torch.nn.Module, base_model_id: str, base_model_hash: str) -> LoraLayout:
    """The layout of `unet` that the LoRA file at `path` has (rank and targets read off the file), or a
    LayoutMismatchError naming the first tensor that is missing, unexpected or of the wrong shape."""
    from w2w_core.lora.adapter import layout_for
    from w2w_core.lora.layout import LoraSpec

    path = Path(path)
    shapes = _module_shapes(read_lora_header(path)[1], unet)
    down = [k for k in shapes if k.endswith(".lora_A.weight")]
    if not down:
        raise LayoutMismatchError(f"LoRA file {path} holds no UNet LoRA factors (no unet.*.lora_A.weight or "
                                  "lora_unet_*.lora_down.weight tensors)")
    targets = tuple(sorted({k.removesuffix(".lora_A.weight").rsplit(".", 1)[-1] for k in down}))
    spec = LoraSpec(targets, int(shapes[down[0]][0]))
    layout = layout_for(unet, spec, base_model_id, base_model_hash)
    check_shared_shapes(shapes, layout, f"LoRA file {path}")
    check_state_dict({k: SimpleNamespace(shape=v) for k, v in shapes.items()}, layout, f"LoRA file {path}")
    return layout


def _module_shapes(raw: dict[str, tuple[int, ...]], unet: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    """Tensor shapes under the UNet's module names (kohya stems are matched to the UNet's own modules)."""
    if not any(k.startswith(KOHYA_PREFIX) for k in raw):
        return {k.removeprefix(FILE_PREFIX): tuple(v) for k, v in raw.items()}
    modules = {name.replace(".", "_"): name for name, _ in unet.named_modules()}
    out = {}
    for key, shape in raw.items():
        stem, part = key.removeprefix(KOHYA_PREFIX).split(".", 1)
        if part == "alpha":
            continue
        factor = "lora_A" if part.startswith("lora_down") else "lora_B"
        out[f"{modules.get(stem, stem)}.{factor}.weight"] = tuple(shape)
    return out
