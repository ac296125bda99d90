"""Anti-aliased soft shapes on a batch of coordinate grids, and a canvas to paint them on.

Every image in a batch has its own local frame (its own shift and scale), so
coordinates are X [N, 1, W] and Y [N, H, 1]: broadcasting them against each
other builds [N, H, W] masks without materialising two full grids. A mask is
pixel coverage in [0, 1], computed from an approximate signed distance `d`
(negative inside) as clip(0.5 - d / pixel, 0, 1): a one-pixel linear ramp,
which is what makes the edges anti-aliased.
"""
from __future__ import annotations

import numpy as np


def coverage(d: np.ndarray, px: np.ndarray) -> np.ndarray:
    """Pixel coverage of the region d < 0, with a one-pixel soft edge."""
    return np.clip(0.5 - d / px, 0.0, 1.0)


def ellipse_q(X, Y, cx, cy, a, b, square=None) -> np.ndarray:
    """Normalised radius of an ellipse (1 on the outline); `square` > 0 pushes corners out."""
    x2 = ((X - cx) / a) ** 2
    y2 = ((Y - cy) / b) ** 2
    q2 = x2 + y2
    if square is not None:
        # squircle x^2 + y^2 - k x^2 y^2 = 1 (k <= 1); clamping keeps far points outside
        q2 = q2 - square * np.minimum(x2, 1.0) * np.minimum(y2, 1.0)
    return np.sqrt(np.maximum(q2, 0.0))


def ellipse(X, Y, cx, cy, a, b, px, square=None) -> np.ndarray:
    """Filled soft ellipse centred at (cx, cy) with half-axes (a, b)."""
    q = ellipse_q(X, Y, cx, cy, a, b, square)
    return coverage((q - 1.0) * np.minimum(a, b), px)


def ring(X, Y, cx, cy, a, b, thickness, px, square=None) -> np.ndarray:
    """Soft outline of an ellipse, `thickness` wide (a glasses frame)."""
    q = ellipse_q(X, Y, cx, cy, a, b, square)
    return coverage(np.abs(q - 1.0) * np.minimum(a, b) - thickness / 2, px)


def box(X, Y, x0, x1, y0, y1, px) -> np.ndarray:
    """Soft axis-aligned rectangle [x0, x1] x [y0, y1]."""
    mx = coverage(np.maximum(x0 - X, X - x1), px)
    my = coverage(np.maximum(y0 - Y, Y - y1), px)
    return mx * my


def band(X, Y, y_of_x, half_thickness, x0, x1, px) -> np.ndarray:
    """Soft stroke along the curve Y = y_of_x, for x0 <= X <= x1 (brows, lips, lines)."""
    across = coverage(np.abs(Y - y_of_x) - half_thickness, px)
    along = coverage(np.maximum(x0 - X, X - x1), px)
    return across * along


def below(Y, y_of_x, px) -> np.ndarray:
    """Soft half-plane Y > y_of_x (image y points down)."""
    return coverage(y_of_x - Y, px)


class Canvas:
    """A batch of RGB float images that masks are painted onto, back to front.

    Stored channel-first, `rgb` [3, N, H, W], so each blend runs over
    contiguous [N, H, W] planes.
    """

    def __init__(self, background: np.ndarray, height: int, width: int):
        n = background.shape[0]
        self.rgb = np.empty((3, n, height, width), dtype=np.float32)
        self.rgb[...] = background.T[:, :, None, None]

    def paint(self, mask: np.ndarray, colour: np.ndarray, alpha=1.0) -> None:
        """Alpha-blend `colour` ([N, 3], or [N, H, W, 3]) where `mask` ([N, H, W]) covers."""
        m = np.asarray(mask * alpha, dtype=np.float32)
        colour = np.asarray(colour, dtype=np.float32)
        for ch in range(3):
            col = colour[:, ch, None, None] if colour.ndim == 2 else colour[..., ch]
            plane = self.rgb[ch]
            plane += m * (col - plane)

    def image(self) -> np.ndarray:
        """The batch as [N, H, W, 3]."""
        return np.moveaxis(self.rgb, 0, -1)
