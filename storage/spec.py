"""What a weight store is made of, and the checks before one is created or reopened.

A request to create a store (`StoreSpec`) is checked before anything is
written; reopening one for more training checks that the batch size, the
attributes and the training config are the ones it was built with, since
mixing them would make rows incomparable.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import fsspec
import zarr

from storage import format as fmt
from storage.boundary import redact_url
from storage.codecs import DEFAULT_CODEC, compressors_for
from w2w_core.errors import InputError


@dataclass(frozen=True)
class StoreSpec:
    """How to create a weight store."""

    url: str  # a local path or fsspec URL (s3://bucket/prefix)
    rows_per_chunk: int  # identities per row chunk = batch size: one batch owns whole chunks
    dtype: str = "float32"  # stored weight dtype: "float32" or "float16"
    codec: str = DEFAULT_CODEC  # weight compressor, see storage/codecs.py
    params_per_chunk: int | None = None  # None: whole rows, split only past ~8 MiB per chunk
    # fsspec options; may hold secrets
    storage_options: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)


def batches(n_rows: int, rows_per_chunk: int) -> list[range]:
    """Chunk-aligned row ranges covering 0..n_rows: one per batch task."""
    return [range(s, min(s + rows_per_chunk, n_rows)) for s in range(0, n_rows, rows_per_chunk)]


def n_params_of(layout: Mapping[str, Any]) -> int:
    try:
        n = int(layout["n_params"])
    except (KeyError, TypeError, ValueError) as err:
        raise InputError("the layout must give its parameter count as 'n_params'") from err
    if n <= 0:
        raise InputError(f"the layout has n_params={n}; a weight row needs at least one param")
    return n


def check_spec(spec: StoreSpec, n_rows: int) -> None:
    if spec.rows_per_chunk < 1:
        raise InputError(f"rows_per_chunk must be at least 1, got {spec.rows_per_chunk}")
    if spec.dtype not in fmt.DTYPES:
        raise InputError(f"dtype must be one of {fmt.DTYPES}, got {spec.dtype!r}")
    if n_rows < 0:
        raise InputError(f"n_rows must be >= 0, got {n_rows}")
    compressors_for(spec.codec, 4)  # an unknown codec fails here, before anything is written


def group_exists(url: str, options: Mapping[str, Any] | None) -> bool:
    try:
        zarr.open_group(url, mode="r", zarr_format=3, storage_options=options)
    except (FileNotFoundError, zarr.errors.GroupNotFoundError):
        return False
    return True


def holds_only_records(url: str, options: Mapping[str, Any] | None) -> bool:
    """Whether `url` holds nothing but w2w's record folders (a run's target is recorded before its
    store is created): a store may then be created there; anywhere else that holds data, never."""
    fs, root = fsspec.core.url_to_fs(url, **(options or {}))
    try:
        names = {name.rstrip("/").rsplit("/", 1)[-1] for name in fs.ls(root, detail=False)}
    except FileNotFoundError:
        return False
    return bool(names) and names <= {*fmt.RECORD_FOLDERS, fmt.ZOO_RECORD}


def check_reopen(url: str, stored: Mapping[str, Any], spec: StoreSpec, train_config: Mapping[str, Any],
                 attribute_names: Sequence[str]) -> None:
    """Refuse to reopen the store at `url` (attributes `stored`) with another batch size,
    attributes or training config."""
    where, rows_per_chunk = redact_url(url), int(stored["rows_per_chunk"])
    if spec.rows_per_chunk != rows_per_chunk:
        raise InputError(
            f"the store at {where} has rows_per_chunk={rows_per_chunk}, but the batch size is "
            f"{spec.rows_per_chunk}: batches must equal row chunks (or two writers would share "
            f"one); use batch size {rows_per_chunk} or a new store")
    if list(attribute_names) != list(stored["attribute_names"]):
        raise InputError(f"the store at {where} has attributes {list(stored['attribute_names'])}, "
                         f"not {list(attribute_names)}; use a new store for another world")
    lines = fmt.mapping_differences(dict(stored["train_config"]), fmt.as_json(train_config, "train_config"))
    if lines:
        raise InputError(f"the store at {where} was trained with another config; mixing them "
                         "would make rows incomparable:\n  " + "\n  ".join(lines)
                         + "\nUse a new store URL for the new config.")
