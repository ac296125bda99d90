"""Conversions between the world's uint8 images and the model's tensors, with checks."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from w2w_core.errors import InputError
from w2w_core.image_files import decode_images, read_image_file


def check_images(images: np.ndarray, what: str = "images") -> np.ndarray:
    """Refuse anything that is not a non-empty uint8 [N,H,W,3] batch, saying what it is instead."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        shape = getattr(images, "shape", None)
        dtype = getattr(images, "dtype", type(images).__name__)
        raise InputError(f"{what} must be a uint8 array [N, H, W, 3]; got shape {shape}, dtype {dtype}")
    if len(images) == 0:
        raise InputError(f"{what} is empty: at least one image is needed")
    return images


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 [N,H,W,3] -> float32 [N,3,H,W] in [-1, 1], the range SD's VAE expects."""
    array = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return array / 127.5 - 1.0


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """float [N,3,H,W] in [-1, 1] -> uint8 [N,H,W,3]."""
    array = ((tensor.detach().clamp(-1, 1) + 1) * 127.5).round().byte()
    return array.permute(0, 2, 3, 1).cpu().numpy()


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Bicubic resize to size x size where needed (a 512-pixel SD model gets 32-pixel renders too)."""
    if images.shape[1:3] == (size, size):
        return images
    return np.stack([np.asarray(Image.fromarray(image).resize((size, size), Image.BICUBIC)) for image in images])


def load_image_files(paths: list[str | Path], size: int) -> np.ndarray:
    """Read image files as RGB uint8 [N,size,size,3]; a missing or unreadable file is named in the error."""
    files = [(str(path), read_image_file(path)) for path in paths]  # each file's size checked before it is read
    return decode_images(files, size, "the identity's images")


def image_grid(images: np.ndarray, columns: int, scale: int = 4) -> Image.Image:
    """Tile uint8 [N,H,W,3] images into one picture, enlarged `scale` times for viewing."""
    n, h, w, _ = check_images(images).shape
    rows = -(-n // columns)
    canvas = np.full((rows * (h + 1) + 1, columns * (w + 1) + 1, 3), 255, np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        canvas[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + c * (w + 1) : 1 + c * (w + 1) + w] = image
    grid = Image.fromarray(canvas)
    return grid.resize((grid.width * scale, grid.height * scale), Image.NEAREST)
