"""The on-disk format of the weight store: names, kinds and the layout check.

One zarr v3 group per store. Readers outside w2w (the PCA, a notebook) rely
on these names, so they change only with `FORMAT_VERSION`.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from w2w_core.errors import InputError

FORMAT_VERSION = 1

# Row status codes stored in `status`.
PENDING, DONE, FAILED = 0, 1, 2
STATUS_NAMES = {PENDING: "pending", DONE: "done", FAILED: "failed"}

# Dimension names (zarr v3 `dimension_names`, read by xarray as dims).
IDENTITY, PARAM, ATTRIBUTE = "identity", "param", "attribute"

# Per-row arrays: name -> (dtype, fill value). All chunked by rows_per_chunk.
ROW_ARRAYS: dict[str, tuple[Any, Any]] = {
    "status": ("uint8", PENDING),
    "row_checksum": ("uint32", 0),  # zlib.crc32 of the row's stored bytes
    "identity_seed": ("int64", -1),
    "final_loss": ("float32", float("nan")),
    "training_seed": ("int64", -1),
    "config_hash": (str, ""),
    "failure_reason": (str, ""),
}
WEIGHTS, ATTRIBUTES, ATTRIBUTE_NAMES = "weights", "attributes", "attribute"
SPACE_GROUP = "space"  # sibling group written by storage/space_store.py; never touched here

MAX_REASON_CHARS = 2000
DTYPES = ("float32", "float16")


def as_json(value: Mapping[str, Any], what: str) -> dict[str, Any]:
    """`value` as it will read back from the store's JSON attributes (tuples become lists)."""
    try:
        return json.loads(json.dumps(dict(value)))
    except (TypeError, ValueError) as err:
        raise InputError(f"{what} must be JSON-able (lists, numbers, strings): {err}") from err


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _field_difference(name: str, stored: Any, expected: Any) -> str:
    if isinstance(stored, list) and isinstance(expected, list):
        if len(stored) != len(expected):
            return f"{name}: the store has {len(stored)} entries, expected {len(expected)}"
        i = next(i for i, (a, b) in enumerate(zip(stored, expected)) if a != b)
        return f"{name}[{i}]: the store has {_short(stored[i])}, expected {_short(expected[i])}"
    return f"{name}: the store has {_short(stored)}, expected {_short(expected)}"


def mapping_differences(stored: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    """Human-readable differences between two JSON mappings, one line per top-level field."""
    lines = []
    for name in sorted(set(stored) | set(expected)):
        if name not in expected:
            lines.append(f"{name}: only in the store ({_short(stored[name])})")
        elif name not in stored:
            lines.append(f"{name}: missing from the store (expected {_short(expected[name])})")
        elif stored[name] != expected[name]:
            lines.append(_field_difference(name, stored[name], expected[name]))
    return lines
