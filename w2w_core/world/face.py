"""Drawing a face from its parameters, feature by feature, back to front.

All functions take `f`, a dict of per-image parameters shaped [N, 1, 1]
(broadcastable against the masks), a dict `g` of derived geometry and
colours, and paint onto a `Canvas`. Geometry is in head-local units: the
image spans [-1, 1] before each image's own shift and scale.
"""
from __future__ import annotations

import numpy as np

from w2w_core.world.identity import CHUBBY_MIN_WEIGHT, HAIR_COLOURS, SMILING_MIN_SMILE, YOUNG_MAX_AGE
from w2w_core.world.shapes import Canvas, band, below, box, coverage, ellipse, ellipse_q, ring

_SKIN = np.array([[0.98, 0.87, 0.79], [0.88, 0.68, 0.53], [0.43, 0.28, 0.19]], np.float32)
_EYES = np.array([[0.33, 0.19, 0.09], [0.30, 0.50, 0.28], [0.28, 0.50, 0.85]], np.float32)
_FRAMES = np.array([[0.05, 0.05, 0.06], [0.40, 0.20, 0.10], [0.75, 0.12, 0.15], [0.85, 0.70, 0.30]],
                   np.float32)
_GREY_HAIR = np.array([0.80, 0.80, 0.79], np.float32)
_LIPSTICK = np.array([0.80, 0.10, 0.22], np.float32)


def _ramp(t: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Piecewise-linear colour ramp: t in [0, 1] over the anchor rows -> [N, 3]."""
    pos = np.clip(t, 0.0, 1.0) * (len(anchors) - 1)
    i = np.minimum(pos.astype(int), len(anchors) - 2)
    w = (pos - i)[:, None]
    return anchors[i] * (1 - w) + anchors[i + 1] * w


def _span(s: int, lo, hi):
    """The x-interval [lo, hi] on the right side (s=1), mirrored to the left (s=-1)."""
    return (lo, hi) if s > 0 else (-hi, -lo)


def step_across(value: np.ndarray, threshold: float, width: float) -> np.ndarray:
    """0 -> 1 over `width` centred on an attribute's threshold.

    A cue that steps in where the attribute flips is what lets a probe (and a
    tiny diffusion model) tell a face just past the threshold from one just
    short of it; a cue that ramps in slowly leaves the borderline faces unreadable.
    """
    return np.clip((value - threshold) / width + 0.5, 0, 1)


def colours_and_geometry(f: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Derived colours ([N, 3]) and head geometry ([N, 1, 1]) shared by all features."""
    flat = {k: v[:, 0, 0] for k, v in f.items()}
    skin = _ramp(flat["skin_tone"], _SKIN) + np.outer(flat["skin_warmth"], [0.035, -0.01, -0.025])
    hair = HAIR_COLOURS[flat["hair_kind"].astype(int)] * (1 + 0.28 * flat["hair_shade"])[:, None]
    grey = flat["grey"][:, None]
    hair = hair * (1 - grey) + _GREY_HAIR * grey
    lips = skin * np.array([0.80, 0.55, 0.55], np.float32)
    lips += (_LIPSTICK - lips) * flat["lipstick"][:, None]
    chub = step_across(f["weight"], CHUBBY_MIN_WEIGHT, 0.04)   # wider face, cheeks, double chin
    a = 0.385 + 0.035 * f["face_width"] + 0.12 * np.maximum(f["weight"] - 0.3, 0) + 0.045 * chub
    b = 0.50 + 0.035 * f["face_length"] + 0.03 * f["weight"]
    cy = np.float32(-0.10)
    ey = cy + 0.07 + 0.025 * f["eye_height"]
    ex = 0.165 + 0.022 * f["eye_spacing"] + 0.15 * (a - 0.42)
    my = ey + 0.27 + 0.025 * f["nose_length"]
    mw = 0.115 + 0.018 * f["mouth_width"] + 0.05 * np.maximum(f["smile"], 0)
    return {
        "skin": np.clip(skin, 0, 1).astype(np.float32), "hair": np.clip(hair, 0, 1).astype(np.float32),
        "eye": _ramp(flat["eye_hue"], _EYES), "lips": np.clip(lips, 0, 1).astype(np.float32),
        "frame": _ramp(flat["glasses_colour"], _FRAMES),
        "a": a, "b": b, "cy": cy, "ey": ey, "ex": ex, "my": my, "mw": mw, "chub": chub,
    }


def draw_body(c: Canvas, X, Y, px, f, g, shirt: np.ndarray, shade: bool) -> None:
    """Long hair behind the head, neck, shoulders (shirt colour is nuisance), ears."""
    a, b, cy = g["a"], g["b"], g["cy"]
    if np.any(f["long_hair"] > 0.5):
        wide = a + 0.10 + 0.06 * f["hair_volume"]
        back = np.maximum(ellipse(X, Y, 0, cy - 0.02, wide, b + 0.07 + 0.05 * f["hair_volume"], px),
                          box(X, Y, -wide, wide, cy, 0.55 + 0.1 * f["hair_volume"], px))
        c.paint(back * f["long_hair"], g["hair"] * 0.85)
    neck_w = 0.12 + 0.06 * f["weight"] + 0.05 * f["male"]
    c.paint(box(X, Y, -neck_w, neck_w, cy + 0.2, 1.2, px), g["skin"] * (0.82 if shade else 0.9))
    c.paint(ellipse(X, Y, 0, 1.08, 0.72 + 0.12 * f["weight"] + 0.14 * f["male"], 0.46, px), shirt)
    for s in (-1, 1):
        c.paint(ellipse(X, Y, s * a, g["ey"] + 0.03, 0.055, 0.09, px), g["skin"] * 0.9)


def draw_head(c: Canvas, X, Y, px, f, g, shade: bool) -> np.ndarray:
    """The skin of the face and scalp; returns the face mask (beards use it)."""
    a, b, cy = g["a"], g["b"], g["cy"]
    square = (0.25 + 0.75 * f["jaw"] * (1 - 0.6 * f["weight"])) * (Y > cy)  # noqa: SIM300 - Y: pixel grid, no constant
    q = ellipse_q(X, Y, 0, cy, a, b, square)
    face = coverage((q - 1.0) * np.minimum(a, b), px)
    skin = g["skin"][:, None, None, :]
    if shade:  # photo: darker towards the rim, a little rosy on the cheeks
        skin = skin * (1.0 - 0.16 * np.clip(q, 0, 1) ** 3)[..., None]
    c.paint(face, skin)
    cheeks = sum(ellipse(X, Y, s * 0.55 * a, g["ey"] + 0.14, 0.09, 0.06, px) for s in (-1, 1))
    chub = g["chub"]
    c.paint(cheeks, np.array([[0.85, 0.35, 0.35]], np.float32).repeat(len(a), 0), 0.1 + 0.45 * chub)
    chin_y = cy + 0.8 * b + 0.9 * X ** 2                 # double chin
    c.paint(band(X, Y, chin_y, 0.02, -0.4 * a, 0.4 * a, px), g["skin"] * 0.68, 0.9 * chub)
    forehead = np.clip((f["age"] - 40.0) / 25.0, 0, 1)
    for k in (0, 1):  # forehead lines from 40; folds, cheek shadows and under-eye bags around 36
        c.paint(band(X, Y, cy - 0.27 * b + 0.06 * k, 0.008, -0.45 * a, 0.45 * a, px), g["skin"] * 0.7,
                0.6 * forehead)
    folds = step_across(f["age"], YOUNG_MAX_AGE, 3.0)
    for s in (-1, 1):
        # soft shadows a blur does not wipe out: sunken cheeks beside the mouth, bags under the eyes
        c.paint(ellipse(X, Y, s * (g["mw"] + 0.075), g["my"], 0.06, 0.08, px), g["skin"] * 0.78, 0.8 * folds)
        c.paint(ellipse(X, Y, s * g["ex"], g["ey"] + 0.07, 0.075, 0.032, px), g["skin"] * 0.7, 0.85 * folds)
        fold = g["my"] - 0.1 + 0.9 * (s * X - g["mw"] * 0.9) ** 2
        c.paint(band(X, Y, fold, 0.02, *_span(s, g["mw"] + 0.01, g["mw"] + 0.12), px),
                g["skin"] * 0.62, 0.9 * folds)
    return face


def draw_hair(c: Canvas, X, Y, px, f, g) -> None:
    """Hair cap above a hairline (or the horseshoe fringe of a bald head) and sideburns."""
    a, b, cy = g["a"], g["b"], g["cy"]
    vol = f["hair_volume"]
    cap = ellipse(X, Y, 0, cy - 0.015, a + 0.03 + 0.05 * vol, b + 0.03 + 0.07 * vol, px)
    hairline = cy - b * (0.30 + 0.35 * (1 - f["fringe"])) + 0.35 * (X - 0.12 * f["parting"]) ** 2 \
        + 0.08 * f["parting"] * X
    sides = box(X, Y, -9, -0.72 * a, -9, g["ey"] - 0.05, px) + box(X, Y, 0.72 * a, 9, -9, g["ey"] - 0.05, px)
    top = np.maximum(below(-Y, -hairline, px), sides)   # above the hairline, or at the temples
    bald = f["bald"]
    c.paint(cap * top, g["hair"], 1 - bald)
    horseshoe = cap * box(X, Y, -9, 9, cy - 0.12, g["ey"] - 0.03, px) * coverage(0.78 * a - np.abs(X), px)
    c.paint(horseshoe, g["hair"], bald)
    shine = ellipse(X, Y, -0.12, cy - 0.75 * b, 0.12, 0.06, px)
    c.paint(shine, np.ones_like(g["hair"]), 0.35 * bald)


def draw_eyes_brows_nose(c: Canvas, X, Y, px, f, g) -> None:
    """Eyes (sclera, coloured iris, pupil), eyebrows and a shaded nose."""
    ex, ey = g["ex"], g["ey"]
    ea = 0.072 * (1 + 0.12 * f["eye_size"])
    eb = 0.042 * (1 + 0.12 * f["eye_size"])
    n = len(ex)
    for s in (-1, 1):
        sclera = ellipse(X, Y, s * ex, ey, ea, eb, px)
        c.paint(sclera, np.full((n, 3), 0.96, np.float32))
        c.paint(sclera * ellipse(X, Y, s * ex, ey, 0.036, 0.036, px), g["eye"])
        c.paint(ellipse(X, Y, s * ex, ey, 0.015, 0.015, px), np.full((n, 3), 0.03, np.float32))
        brow_y = ey - 0.085 - 0.02 * f["eye_size"] + s * 0.04 * f["brow_tilt"] * (X - s * ex) / 0.09
        thick = 0.01 + 0.025 * f["brow_thickness"]
        c.paint(band(X, Y, brow_y, thick, *_span(s, ex - 0.08, ex + 0.09), px), g["hair"] * 0.8)
    nose_b = 0.085 + 0.02 * f["nose_length"]
    nose_y = ey + 0.06 + nose_b
    c.paint(ellipse(X, Y, 0.012, nose_y, 0.035 + 0.012 * f["nose_width"], nose_b, px), g["skin"] * 0.8, 0.55)
    for s in (-1, 1):
        c.paint(ellipse(X, Y, s * 0.028, nose_y + 0.7 * nose_b, 0.016, 0.012, px), g["skin"] * 0.45, 0.8)


def draw_mouth(c: Canvas, X, Y, px, f, g) -> np.ndarray:
    """Lips along a smile curve, opened with teeth for a broad smile; returns the lip mask."""
    my, mw = g["my"], g["mw"]
    smile = f["smile"]
    curve = my - 0.07 * smile * (X / mw) ** 2 + 0.02 * smile
    lip_t = 0.02 + 0.006 * f["lip_thickness"]
    lips = band(X, Y, curve, lip_t, -mw, mw, px)
    opening = step_across(smile, SMILING_MIN_SMILE, 0.04) * 0.2 * np.clip(1 - (X / mw) ** 2, 0, 1)
    mouth = coverage(np.abs(Y - curve - opening / 2) - opening / 2, px) * coverage(np.abs(X) - mw, px)
    c.paint(np.maximum(lips, mouth), g["lips"])
    inner = coverage(np.abs(Y - curve - opening / 2) - opening / 2 + 0.012, px) * coverage(np.abs(X) - mw + 0.015, px)
    c.paint(inner, np.full((len(my), 3), 0.35, np.float32) * [1.0, 0.3, 0.3])
    teeth = inner * below(-Y, -(curve + 0.6 * opening), px)   # upper teeth: above 0.6 of the opening
    c.paint(teeth, np.full((len(my), 3), 0.97, np.float32))
    return np.maximum(lips, mouth)


def draw_beard(c: Canvas, X, Y, px, f, g, face: np.ndarray, mouth: np.ndarray) -> None:
    """Moustache and chin beard, or a full beard from the cheekbones down (men only)."""
    if not np.any(f["beard"] > 0.5):
        return
    a, b, cy, ey, my, mw = g["a"], g["b"], g["cy"], g["ey"], g["my"], g["mw"]
    full = f["beard_style"] > 0.5
    chin = ellipse(X, Y, 0, cy + b - 0.01, 0.55 * a, 0.13, px)
    cheeks = face * below(Y, ey + 0.13 - 0.12 * (X / a) ** 2, px)
    goatee = ellipse(X, Y, 0, my + 0.06, mw + 0.05, 0.12, px)
    stache = band(X, Y, my - 0.045 - 0.03 * (X / mw) ** 2, 0.024, -mw - 0.02, mw + 0.02, px)
    region = np.where(full, np.maximum(cheeks, chin), np.maximum(goatee, chin * goatee))
    region = np.maximum(region, stache) * (1 - mouth)
    c.paint(region, g["hair"] * 0.9, f["beard"] * f["beard_density"])


def draw_glasses(c: Canvas, X, Y, px, f, g) -> None:
    """Two lens frames (round or rectangular), a bridge and the arms to the ears."""
    if not np.any(f["glasses"] > 0.5):
        return
    ex, ey, a = g["ex"], g["ey"], g["a"]
    la = 0.095 * (1 + 0.08 * f["glasses_size"])
    lb = 0.068 * (1 + 0.08 * f["glasses_size"])
    square = 0.95 * f["glasses_shape"]
    on = f["glasses"]
    for s in (-1, 1):
        lens = ellipse(X, Y, s * ex, ey, la, lb, px, square)
        c.paint(lens, np.full((len(a), 3), 0.85, np.float32) * [0.8, 0.9, 1.0], 0.25 * on)
        c.paint(ring(X, Y, s * ex, ey, la, lb, 0.05, px, square), g["frame"], on)
        c.paint(band(X, Y, ey - 0.02, 0.018, *_span(s, ex + la, a), px), g["frame"], on)
    c.paint(band(X, Y, ey - 0.025 + 0.25 * X ** 2, 0.018, -(ex - la), ex - la, px), g["frame"], on)
