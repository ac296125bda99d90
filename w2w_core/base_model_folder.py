"""Where a base model lives, and whether a folder holds one: checked before torch or diffusers load.

`w2w_core.base_model` loads the pipeline; this module only names the shipped
model's folder and id and looks at a folder's files, so a command can refuse a
wrong --model in a fraction of a second instead of after loading torch.
"""
from __future__ import annotations

from pathlib import Path

from w2w_core.errors import InputError

DEFAULT_MODEL_DIR = Path(__file__).parent / "assets" / "tiny_sd"
DEFAULT_MODEL_ID = "w2w/tiny-sd-faces"


def default_folder_for(base_model_id: str) -> Path:
    """The folder of the base model a layout names: the embedded model's, or the folder it was built from."""
    return DEFAULT_MODEL_DIR if base_model_id == DEFAULT_MODEL_ID else Path(base_model_id)


def check_model_folder(folder: str | Path | None) -> Path:
    """`folder` (the embedded model's if None), refused unless it is a diffusers model folder."""
    path = Path(folder) if folder is not None else DEFAULT_MODEL_DIR
    if not (path / "model_index.json").is_file():
        raise InputError(
            f"{path} is not a diffusers model folder (no model_index.json). Pass a folder saved "
            "with pipeline.save_pretrained(), such as a Stable Diffusion 1.5 checkout."
        )
    return path
