"""Rendering identities to images: nuisance variation, styles, supersampling.

A render = who (the identity's FaceParams, identical in every image) + how it
was photographed (nuisance: a shift of about +-1.5 px, scale +-10 %,
background colour, shirt colour, brightness +-15 % and a soft side light).
Nuisance is drawn from (identity seed, variation seed) only, one row per
image from a single draw, so image i is the same whatever n_images is.
Everything is vectorised over the batch; faces are drawn at `_SUPERSAMPLE`
times the output size and box-filtered down.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from w2w_core.errors import InputError
from w2w_core.world import face
from w2w_core.world.identity import PARAM_NAMES, Identity
from w2w_core.world.shapes import Canvas

STYLES: tuple[str, ...] = ("photo", "painting", "sketch")
_SUPERSAMPLE = 1
_CHUNK = 128          # images per vectorised batch (keeps temporaries in cache-sized blocks)
_N_NUISANCE = 11      # columns of the per-image nuisance draw
_ZOOM = 1.12        # overall head size in the frame
_PAPER = np.array([0.96, 0.94, 0.88], np.float32)


def _check(n_images: int, size: int, style: str) -> None:
    if isinstance(n_images, bool) or not isinstance(n_images, (int, np.integer)) or n_images < 1:
        raise InputError(f"n_images must be a positive integer, got {n_images!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 8:
        raise InputError(f"size must be an integer of at least 8 pixels, got {size!r}")
    if style not in STYLES:
        raise InputError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")


def nuisance(seed: int, variation_seed: int, n_images: int) -> np.ndarray:
    """Uniform [n_images, _N_NUISANCE] draw for one identity; row i never depends on n_images."""
    if isinstance(variation_seed, bool) or not isinstance(variation_seed, (int, np.integer)) or variation_seed < 0:
        raise InputError(f"variation_seed must be a non-negative integer, got {variation_seed!r}")
    rng = np.random.default_rng([int(seed), int(variation_seed), 0x5EED])
    return rng.random((n_images, _N_NUISANCE), dtype=np.float32)


def _render_chunk(params: np.ndarray, u: np.ndarray, size: int, style: str) -> np.ndarray:
    """Float RGB [N, size, size, 3] in [0, 1] for per-image params [N, P] and nuisance u [N, K]."""
    n, res = len(params), size * _SUPERSAMPLE
    f = {name: params[:, i, None, None] for i, name in enumerate(PARAM_NAMES)}
    g = face.colours_and_geometry(f)
    shift = (u[:, 0:2] * 2 - 1) * 0.09
    scale = (_ZOOM * (0.9 + 0.2 * u[:, 2]))[:, None, None]
    centres = (np.arange(res, dtype=np.float32) + 0.5) / res * 2 - 1
    X = (centres[None, None, :] - shift[:, 0, None, None]) / scale
    Y = (centres[None, :, None] - shift[:, 1, None, None]) / scale
    px = (2.0 / res) / scale
    background = 0.3 + 0.6 * u[:, 3:6]
    background = background + (background.mean(1, keepdims=True) - background) * 0.3
    shirt = 0.12 + 0.75 * u[:, 8:11]
    photo = style == "photo"
    c = Canvas(background.astype(np.float32), res, res)
    face.draw_body(c, X, Y, px, f, g, shirt.astype(np.float32), photo)
    skin = face.draw_head(c, X, Y, px, f, g, photo)
    face.draw_hair(c, X, Y, px, f, g)
    face.draw_eyes_brows_nose(c, X, Y, px, f, g)
    mouth = face.draw_mouth(c, X, Y, px, f, g)
    face.draw_beard(c, X, Y, px, f, g, skin, mouth)
    face.draw_glasses(c, X, Y, px, f, g)
    rgb = c.image()
    if style == "painting":
        rgb = _posterize(rgb)
    elif style == "sketch":
        rgb = _sketch(rgb)
    light = ((0.85 + 0.30 * u[:, 6])[:, None, None]
             * (1 + (u[:, 7] * 2 - 1)[:, None, None] * 0.08 * centres[None, None, :]))
    rgb = rgb * light[..., None]
    return rgb.reshape(n, size, _SUPERSAMPLE, size, _SUPERSAMPLE, 3).mean(axis=(2, 4))


def _posterize(rgb: np.ndarray, levels: int = 4) -> np.ndarray:
    """Flat painted look: saturate, then quantise each channel to a few levels."""
    grey = rgb.mean(-1, keepdims=True)
    rgb = np.clip(grey + 1.35 * (rgb - grey), 0, 1)
    return np.round(rgb * (levels - 1)) / (levels - 1)


def _sketch(rgb: np.ndarray) -> np.ndarray:
    """Pencil sketch: dark strokes where luminance changes, light tone shading, on paper."""
    lum = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    gx = np.zeros_like(lum)
    gy = np.zeros_like(lum)
    gx[:, :, 1:-1] = lum[:, :, 2:] - lum[:, :, :-2]
    gy[:, 1:-1, :] = lum[:, 2:, :] - lum[:, :-2, :]
    ink = np.clip(1.6 * np.sqrt(gx ** 2 + gy ** 2) + 0.15 * (1 - lum), 0, 1)
    return _PAPER * (1 - 0.9 * ink[..., None])


def render_params(params: np.ndarray, u: np.ndarray, size: int = 32, style: str = "photo") -> np.ndarray:
    """uint8 [N, size, size, 3] from per-image parameter rows [N, P] and nuisance rows [N, K]."""
    out = np.empty((len(params), size, size, 3), np.uint8)
    for s in range(0, len(params), _CHUNK):
        rgb = _render_chunk(params[s:s + _CHUNK], u[s:s + _CHUNK], size, style)
        out[s:s + _CHUNK] = np.round(np.clip(rgb, 0, 1) * 255)
    return out


def render_identity(identity: Identity, n_images: int = 10, size: int = 32, style: str = "photo",
                    variation_seed: int = 0) -> np.ndarray:
    """n_images renders of one identity, uint8 [n, size, size, 3].

    Only nuisance (position, scale, background, shirt, lighting) changes
    between images; they are deterministic for (identity.seed, variation_seed).
    `style` is "photo", or "painting" / "sketch" for out-of-distribution tests.
    """
    _check(n_images, size, style)
    u = nuisance(identity.seed, variation_seed, n_images)
    params = np.repeat(identity.params.to_array()[None], n_images, axis=0)
    return render_params(params, u, size, style)


def render_identities(identities: Sequence[Identity], n_images: int = 10, size: int = 32,
                      style: str = "photo", variation_seed: int = 0) -> np.ndarray:
    """Renders of many identities in one vectorised pass: uint8 [len, n_images, size, size, 3].

    Identical to stacking `render_identity` per identity, only faster.
    """
    _check(n_images, size, style)
    if len(identities) == 0:
        raise InputError("render_identities needs at least one identity")
    u = np.concatenate([nuisance(i.seed, variation_seed, n_images) for i in identities])
    params = np.repeat(np.stack([i.params.to_array() for i in identities]), n_images, axis=0)
    out = render_params(params, u, size, style)
    return out.reshape(len(identities), n_images, size, size, 3)
