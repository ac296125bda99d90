"""The on-disk format of the weight store: names, kinds and the layout check.

One zarr v3 group per store. Readers outside w2w (the PCA, a notebook) rely
on these names, so they change only with `FORMAT_VERSION`.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import zarr
from zarr.codecs import Crc32cCodec, ZstdCodec

from storage.boundary import redact_url
from storage.codecs import compressors_for
from w2w_core.errors import InputError, StorageError

FORMAT_VERSION = 2  # 2: per-row identity ids (the `identity` coordinate); 1 had seeds only

# Row status codes stored in `status`.
PENDING, DONE, FAILED = 0, 1, 2
STATUS_NAMES = {PENDING: "pending", DONE: "done", FAILED: "failed"}

# Dimension names (zarr v3 `dimension_names`, read by xarray as dims).
IDENTITY, PARAM, ATTRIBUTE = "identity", "param", "attribute"

# Per-row arrays: name -> (dtype, fill value). All chunked by rows_per_chunk.
ROW_ARRAYS: dict[str, tuple[Any, Any]] = {
    "status": ("uint8", PENDING),
    "row_checksum": ("uint32", 0),  # zlib.crc32 of the row's stored bytes
    IDENTITY: (str, ""),  # the identity's id; named like its dimension, so xarray makes it the coordinate
    "identity_seed": ("int64", -1),  # the embedded world's seed of the identity (-1: not a world identity)
    "final_loss": ("float32", float("nan")),
    "training_seed": ("int64", -1),
    "config_hash": (str, ""),
    "failure_reason": (str, ""),
}
WEIGHTS, ATTRIBUTES, ATTRIBUTE_NAMES = "weights", "attributes", "attribute"
SPACE_GROUP = "space"  # sibling group written by storage/space_store.py; never touched here
LEASES_FOLDER = "leases"  # per-chunk writer leases (storage/lease.py); plain objects, not zarr
RUNS_FOLDER = "runs"  # what each flow run set out to do (storage/run_records.py); plain objects
RECORD_FOLDERS = (LEASES_FOLDER, RUNS_FOLDER)  # may exist before the store does
ZOO_RECORD = "zoo.json"  # the zoo's build record (tasks/zoo.py): written before the zoo's store is created

MAX_REASON_CHARS = 2000
TARGET_CHUNK_BYTES = 8 * 2**20  # automatic params_per_chunk aims at weight chunks of about this size
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


def params_per_chunk(n_params: int, rows_per_chunk: int, dtype: str, wanted: int | None) -> int:
    """Columns per weight chunk: `wanted`, or whole rows up to about TARGET_CHUNK_BYTES."""
    if wanted is not None:
        return max(1, min(wanted, n_params))
    per_row = TARGET_CHUNK_BYTES // (rows_per_chunk * np.dtype(dtype).itemsize)
    return max(1, min(n_params, per_row))


def create_arrays(group: zarr.Group, n_rows: int, n_params: int, rows_per_chunk: int,
                  wanted_params_per_chunk: int | None, dtype: str, codec: str,
                  attribute_names: Sequence[str]) -> None:
    """Every array of a new store, row-chunked by `rows_per_chunk`, with xarray dimension names."""
    r, small = rows_per_chunk, [ZstdCodec(level=1), Crc32cCodec()]
    group.create_array(WEIGHTS, shape=(n_rows, n_params), dtype=dtype, fill_value=0,
                       chunks=(r, params_per_chunk(n_params, r, dtype, wanted_params_per_chunk)),
                       compressors=compressors_for(codec, np.dtype(dtype).itemsize),
                       dimension_names=(IDENTITY, PARAM))
    for name, (kind, fill) in ROW_ARRAYS.items():
        group.create_array(name, shape=(n_rows,), dtype=kind, chunks=(r,), fill_value=fill,
                           compressors=small if kind is not str else "auto", dimension_names=(IDENTITY,))
    n_attr = len(attribute_names)
    group.create_array(ATTRIBUTES, shape=(n_rows, n_attr), dtype=bool, chunks=(r, max(n_attr, 1)),
                       fill_value=False, compressors=small, dimension_names=(IDENTITY, ATTRIBUTE))
    names = group.create_array(ATTRIBUTE_NAMES, shape=(n_attr,), dtype=str, chunks=(max(n_attr, 1),),
                               dimension_names=(ATTRIBUTE,))
    if n_attr:
        names[:] = np.array(list(attribute_names), dtype=object)


def check_format(group: zarr.Group, url: str) -> None:
    """Raise StorageError unless `group` is a weight store this code can read."""
    version = group.attrs.get("w2w_format")
    if version is None:
        raise StorageError(f"{redact_url(url)} is a zarr group but not a w2w weight store (no "
                           "w2w_format attribute; if a create was interrupted, delete it and create again)")
    if int(version) != FORMAT_VERSION:
        fix = "upgrade w2w" if int(version) > FORMAT_VERSION else "rebuild the store"
        raise StorageError(f"the store at {redact_url(url)} has format {version}; this w2w reads format "
                           f"{FORMAT_VERSION} ({fix})")
    missing = [n for n in (WEIGHTS, ATTRIBUTES, *ROW_ARRAYS) if n not in group]
    if missing:
        raise StorageError(f"the store at {redact_url(url)} lacks arrays {missing}; it is damaged "
                           "or was not written by w2w")
