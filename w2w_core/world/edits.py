"""The same identity with one attribute truly changed: the ground truth an edit is measured against.

The world knows what makes an attribute: `with_attribute` moves only the
parameters behind it across their threshold (a beard drawn on, the smile
widened, the age past 36) and keeps everything else of the face, so its
renders show what a perfect edit would give.
"""
from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from w2w_core.errors import InputError
from w2w_core.world.identity import (
    ATTRIBUTES,
    CHUBBY_MIN_WEIGHT,
    HAIR_BLOND,
    SMILING_MIN_SMILE,
    YOUNG_MAX_AGE,
    FaceParams,
    Identity,
    _attributes_of,
)

_MARGIN = {"young": 12.0, "chubby": 0.14, "smiling": 0.35}  # how far past the threshold the true edit lands


def _changed(p: FaceParams, name: str, on: bool) -> FaceParams:
    """The parameters with attribute `name` set to `on`, and only what it takes to get there."""
    flag = float(on)
    if name == "male":
        return replace(p, male=flag, lipstick=0.0 if on else p.lipstick, beard=p.beard if on else 0.0)
    if name == "young":
        age = YOUNG_MAX_AGE - _MARGIN["young"] if on else YOUNG_MAX_AGE + _MARGIN["young"]
        return replace(p, age=age, grey=min(p.grey, 0.2) if on else p.grey)
    if name in ("beard", "glasses"):
        return replace(p, **{name: flag})
    if name == "long_hair":
        return replace(p, long_hair=flag, bald=0.0 if on else p.bald)
    if name == "bald":
        return replace(p, bald=flag, long_hair=0.0 if on else p.long_hair)
    if name == "pale_skin":
        return replace(p, skin_tone=0.12 if on else 0.55)
    if name == "chubby":
        return replace(p, weight=CHUBBY_MIN_WEIGHT + (_MARGIN["chubby"] if on else -_MARGIN["chubby"]))
    if name == "smiling":
        return replace(p, smile=SMILING_MIN_SMILE + (_MARGIN["smiling"] if on else -_MARGIN["smiling"]))
    if name == "blond_hair":
        return replace(p, hair_kind=float(HAIR_BLOND) if on else 1.0, grey=min(p.grey, 0.3), bald=0.0 if on else p.bald)
    raise InputError(f"unknown attribute {name!r}; known: {', '.join(ATTRIBUTES)}")


def with_attribute(identity: Identity, name: str, on: bool) -> Identity:
    """`identity` with attribute `name` set to `on` (the same seed, so its renders keep their nuisance)."""
    params = _changed(identity.params, name, on)
    attributes = _attributes_of(params)
    if attributes[name] != on:  # pragma: no cover - a threshold moved without this function following
        raise InputError(f"could not set {name}={on} on identity {identity.seed}")
    return Identity(seed=identity.seed, params=params, attributes=MappingProxyType(attributes))


def attribute_changes(identity: Identity, edited: Identity) -> list[str]:
    """The attributes that differ between two versions of an identity."""
    return [a for a in ATTRIBUTES if identity.attributes[a] != edited.attributes[a]]

