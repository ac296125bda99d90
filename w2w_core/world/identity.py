"""Procedural identities: a seed -> face parameters -> binary attributes.

An identity is who a face is: the continuous shape and colour parameters that
every render of it shares. The binary attributes are read off those parameters
by fixed thresholds, and the parameters are drawn with CelebA-like
correlations (a beard only on men, baldness mostly on older men, glasses more
with age, blond hair more with pale skin) so that disentangling attribute
edits is a real problem, not one solved by construction.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from types import MappingProxyType
from typing import Mapping

import numpy as np

from w2w_core.errors import InputError

ATTRIBUTES: tuple[str, ...] = (
    "male", "young", "beard", "glasses", "bald",
    "pale_skin", "chubby", "smiling", "blond_hair", "long_hair",
)

# Thresholds that turn parameters into attributes (see `_attributes_of`); the renderer
# steps the matching visible cues in around the public ones (world/face.py).
YOUNG_MAX_AGE = 36.0
_PALE_MAX_TONE = 0.28
CHUBBY_MIN_WEIGHT = 0.58
SMILING_MIN_SMILE = 0.45
_BLOND_MAX_GREY = 0.5

# Hair colour anchors (RGB in [0, 1]); `hair_kind` picks one, `hair_shade` varies it.
HAIR_COLOURS = np.array([
    [0.10, 0.08, 0.07],   # 0 black
    [0.36, 0.22, 0.12],   # 1 brown
    [0.88, 0.74, 0.42],   # 2 blond
    [0.62, 0.26, 0.10],   # 3 red
], dtype=np.float32)
HAIR_BLOND = 2


@dataclass(frozen=True)
class FaceParams:
    """Everything that makes a face *this* face; renders share all of it.

    Units are the renderer's: lengths are fractions of the head, colours and
    amounts in [0, 1], flags are 0.0 / 1.0 so the record flattens to a vector.
    """

    male: float          # 1.0 man, 0.0 woman
    age: float           # years, 18..80
    skin_tone: float     # 0 pale .. 1 dark
    skin_warmth: float   # -1 olive .. 1 rosy
    weight: float        # body fat, 0..1; wide round face above the chubby threshold
    face_width: float    # bone structure, -1..1, independent of weight
    face_length: float   # -1..1
    jaw: float           # 0 round .. 1 square
    hair_kind: float     # index into HAIR_COLOURS
    hair_shade: float    # -1 darker .. 1 lighter, within the kind
    grey: float          # 0..1 greyness of hair and beard (rises with age)
    bald: float          # flag
    long_hair: float     # flag
    hair_volume: float   # 0..1 how far hair stands off the head
    fringe: float        # 0 high hairline .. 1 low fringe
    parting: float       # -1..1 sideways shift of the fringe
    eye_hue: float       # 0 brown .. 0.5 green .. 1 blue
    eye_spacing: float   # -1..1
    eye_size: float      # -1..1
    eye_height: float    # -1..1
    brow_thickness: float  # 0..1
    brow_tilt: float     # -1..1
    nose_length: float   # -1..1
    nose_width: float    # -1..1
    mouth_width: float   # -1..1
    lip_thickness: float  # -1..1
    smile: float         # -0.3 (frown) .. 1 (broad open smile)
    lipstick: float      # 0..1 redness of the lips
    beard: float         # flag
    beard_style: float   # 0 chin and moustache .. 1 full beard
    beard_density: float  # 0.6..1 opacity of the beard
    glasses: float       # flag
    glasses_shape: float  # 0 round .. 1 rectangular
    glasses_colour: float  # 0 black .. 1 gold (frame colour ramp)
    glasses_size: float  # -1..1

    def to_array(self) -> np.ndarray:
        """The parameters as one float32 vector in PARAM_NAMES order."""
        return np.array([getattr(self, n) for n in PARAM_NAMES], dtype=np.float32)


PARAM_NAMES: tuple[str, ...] = tuple(f.name for f in fields(FaceParams))


@dataclass(frozen=True)
class Identity:
    """One procedural person: its seed, face parameters and attributes."""

    seed: int
    params: FaceParams
    attributes: Mapping[str, bool]

    def __hash__(self) -> int:
        return hash((self.seed, self.params))


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


def _sample_params(rng: np.random.Generator) -> FaceParams:
    """Draw one face with the world's correlations; all randomness comes from `rng`."""
    u = lambda: float(rng.uniform(-1.0, 1.0))  # noqa: E731 - tiny local helper
    male = float(rng.random() < 0.5)
    age = 18.0 + 62.0 * float(rng.beta(1.2, 1.7))
    old = np.clip((age - 20.0) / 55.0, 0.0, 1.0)
    skin_tone = float(rng.beta(1.3, 1.6))
    weight = float(np.clip(rng.beta(2.2, 2.8) + 0.08 * male + 0.18 * (old - 0.35), 0.0, 1.0))
    bald = float(rng.random() < (0.05 + 0.75 * old ** 1.3 if male else 0.01))
    long_p = 0.0 if bald else (0.10 if male else 0.78)
    long_hair = float(rng.random() < long_p)
    pale = 1.0 - skin_tone
    hair_p = np.array([0.25 + 0.9 * skin_tone, 0.55, (0.07 + 0.6 * pale ** 2) * (1.0 if male else 1.9),
                       0.10 * pale ** 2])
    hair_kind = float(rng.choice(4, p=hair_p / hair_p.sum()))
    grey = float(np.clip(_sigmoid((age - 54.0) / 6.0) + 0.08 * u(), 0.0, 1.0))
    beard = float(male and rng.random() < 0.38 + 0.25 * old)
    glasses = float(rng.random() < 0.12 + 0.50 * old)
    return FaceParams(
        male=male, age=age, skin_tone=skin_tone, skin_warmth=u(), weight=weight,
        face_width=u(), face_length=u(), jaw=float(np.clip(0.2 + 0.6 * male + 0.2 * u(), 0, 1)),
        hair_kind=hair_kind, hair_shade=u(), grey=grey, bald=bald, long_hair=long_hair,
        hair_volume=float(rng.random()), fringe=float(rng.random()), parting=u(),
        eye_hue=float(np.clip(rng.beta(1.2, 1.2) * (1.0 - 0.8 * skin_tone), 0, 1)),
        eye_spacing=u(), eye_size=u(), eye_height=u(),
        brow_thickness=float(np.clip(0.1 + 0.65 * male + 0.25 * rng.random(), 0, 1)), brow_tilt=u(),
        nose_length=u(), nose_width=u(), mouth_width=u(), lip_thickness=u(),
        smile=float(rng.uniform(-0.3, 1.0)),
        lipstick=0.0 if male else float(rng.random() < 0.65) * float(rng.uniform(0.6, 1.0)),
        beard=beard, beard_style=float(rng.random()), beard_density=float(rng.uniform(0.7, 1.0)),
        glasses=glasses, glasses_shape=float(rng.random()), glasses_colour=float(rng.random()),
        glasses_size=u(),
    )


def _attributes_of(p: FaceParams) -> dict[str, bool]:
    """Read the binary attributes off the parameters (fixed thresholds)."""
    return {
        "male": p.male > 0.5,
        "young": p.age < YOUNG_MAX_AGE,
        "beard": p.beard > 0.5,
        "glasses": p.glasses > 0.5,
        "bald": p.bald > 0.5,
        "pale_skin": p.skin_tone < _PALE_MAX_TONE,
        "chubby": p.weight > CHUBBY_MIN_WEIGHT,
        "smiling": p.smile > SMILING_MIN_SMILE,
        "blond_hair": p.hair_kind == HAIR_BLOND and p.grey < _BLOND_MAX_GREY and p.bald < 0.5,
        "long_hair": p.long_hair > 0.5,
    }


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"identity seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def make_identity(seed: int) -> Identity:
    """The identity behind `seed`; the same seed always gives the same person."""
    seed = _check_seed(seed)
    params = _sample_params(np.random.default_rng([seed, 0x1D]))
    return Identity(seed=seed, params=params, attributes=MappingProxyType(_attributes_of(params)))


def attribute_vector(identity: Identity) -> np.ndarray:
    """The identity's attributes as bool [len(ATTRIBUTES)] in ATTRIBUTES order."""
    return np.array([bool(identity.attributes[a]) for a in ATTRIBUTES], dtype=bool)


def params_dict(identity: Identity) -> dict[str, float]:
    """The face parameters as a plain dict (for metadata and reports)."""
    return asdict(identity.params)
