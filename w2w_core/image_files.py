"""Image files' bytes -> checked RGB uint8 arrays at the model's size (PIL and NumPy only).

An image file is refused by its size on disk before it is read (a small image
padded with gigabytes of junk never reaches memory), then from its header if it
declares too many pixels (an image bomb never gets decoded), and decoded in full
at once so a truncated file fails here, under its own name.
"""
from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from w2w_core.errors import InputError

MAX_PIXELS = 40_000_000  # larger images are refused from their header, before any pixel is decoded
MIN_SIDE = 8  # smaller images hold no face to learn from
# Files are read whole before PIL sees the header, so the pixel cap alone lets a 64x64 PNG padded to 1.5 GB
# cost 1.5 GB of memory. A photo at the pixel cap is 10-30 MB as JPEG and rarely over 60 MB as a lossless
# PNG; 64 MB is generous for any image a model learns an identity from, and bounds what one file can cost.
MAX_FILE_BYTES = 64 * 2**20


def check_file_size(name: str, n_bytes: int) -> None:
    """Refuse an image file of more than MAX_FILE_BYTES (`n_bytes`: its size on disk), before it is read."""
    if n_bytes > MAX_FILE_BYTES:
        raise InputError(f"image {name} is a file of {n_bytes / 2**20:,.1f} MB: image files may be at most "
                         f"{MAX_FILE_BYTES // 2**20} MB; refused before reading it")


def read_image_file(path: str | os.PathLike, what: str = "image") -> bytes:
    """The bytes of a local image file, its size checked first (and the read bounded by the same cap);
    a missing or unreadable file is named in the error."""
    try:
        with open(path, "rb") as file:
            check_file_size(str(path), os.fstat(file.fileno()).st_size)
            data = file.read(MAX_FILE_BYTES + 1)  # a file that grew since, or a device with no size: still bounded
    except FileNotFoundError as error:
        raise InputError(f"{what} {path} does not exist") from error
    except IsADirectoryError as error:
        raise InputError(f"{what} {path} is a folder, not an image file") from error
    except OSError as error:
        raise InputError(f"{what} {path} could not be read: {error}") from error
    check_file_size(str(path), len(data))
    return data


def decode_image(name: str, data: bytes, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """One image file's bytes -> RGB uint8 [size, size, 3] (bicubic), and its original (width, height)."""
    check_file_size(name, len(data))
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise InputError(f"image {name} is too large: it declares {image.width} x {image.height} pixels "
                                 f"(at most {MAX_PIXELS:,}); refused before decoding")
            if min(image.size) < MIN_SIDE:
                raise InputError(f"image {name} is {image.width} x {image.height} pixels: too small to learn an "
                                 f"identity from (at least {MIN_SIDE} on each side)")
            original = image.size
            image.load()  # decode now: a truncated file fails here, named
            return np.asarray(image.convert("RGB").resize((size, size), Image.BICUBIC)), original
    except InputError:
        raise
    except Image.DecompressionBombError as error:  # PIL's own limit, met while reading the header
        raise InputError(f"image {name} is too large: {error}; refused before decoding") from error
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise InputError(f"image {name} is not a readable image file: "
                         f"{unreadable_image_reason(data, error)}") from error


def unreadable_image_reason(data: bytes, error: Exception) -> str:
    """Why PIL could not read an image file's bytes, in words (PIL's own message names a BytesIO object)."""
    if not data:
        return "the file is empty (0 bytes)"
    if isinstance(error, UnidentifiedImageError):
        return "its bytes are in no image format PIL reads (PNG, JPEG, WebP, BMP, GIF, TIFF...)"
    return f"it is truncated or damaged ({error})"


def decode_images(files: Sequence[tuple[str, bytes]], size: int, what: str = "images",
                  warn: Callable[[str], None] = print) -> np.ndarray:
    """Image files (name, bytes) -> RGB uint8 [N, size, size, 3]; mixed sizes are resized, with a warning."""
    if not files:
        raise InputError(f"{what}: no images given; an identity needs at least one image")
    decoded = [decode_image(name, data, size) for name, data in files]
    sizes = sorted({original for _, original in decoded})
    if len(sizes) > 1:
        shown = ", ".join(f"{w}x{h}" for w, h in sizes[:4]) + (" ..." if len(sizes) > 4 else "")
        warn(f"{what}: images of {len(sizes)} sizes ({shown}); each is resized to {size}x{size}")
    return np.stack([image for image, _ in decoded])
