"""The fixed train / held-out split of identity seeds.

One seed in ten is held out: seed % 10 == 9. The rule is arithmetic, so the
k-th train or held-out seed is computed directly and the two lists can never
overlap, whoever asks and in whatever order.
"""
from __future__ import annotations

from w2w_core.errors import InputError

_PERIOD = 10          # one held-out seed per block of ten
_HELDOUT_SLOT = 9     # seed % _PERIOD == _HELDOUT_SLOT is held out


def _check(n: int, start: int) -> None:
    for name, v in (("n", n), ("start", start)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise InputError(f"{name} must be a non-negative integer, got {v!r}")


def is_heldout(seed: int) -> bool:
    """True for seeds reserved for evaluation (never used to build the weight dataset)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"identity seed must be a non-negative integer, got {seed!r}")
    return seed % _PERIOD == _HELDOUT_SLOT


def train_seeds(n: int, start: int = 0) -> list[int]:
    """Train seeds number start .. start+n-1 (in increasing order)."""
    _check(n, start)
    per = _PERIOD - 1
    return [(i // per) * _PERIOD + i % per for i in range(start, start + n)]


def heldout_seeds(n: int, start: int = 0) -> list[int]:
    """Held-out seeds number start .. start+n-1 (in increasing order)."""
    _check(n, start)
    return [i * _PERIOD + _HELDOUT_SLOT for i in range(start, start + n)]
