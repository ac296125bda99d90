"""Reading and writing scattered rows of a row-chunked zarr array, and their checksums."""
from __future__ import annotations

import zlib
from collections.abc import Iterable

import numpy as np
import zarr

from w2w_core.errors import InputError


def checked_rows(rows: Iterable[int], n_rows: int, allow_repeats: bool = False) -> np.ndarray:
    """`rows` as a flat int64 array, refusing rows outside 0..n_rows-1 (and repeats, unless allowed)."""
    arr = np.asarray(list(rows) if not isinstance(rows, np.ndarray) else rows).astype(np.int64).reshape(-1)
    if len(arr) and (arr.min() < 0 or arr.max() >= n_rows):
        raise InputError(f"rows must lie in 0..{n_rows - 1}; got {arr.min()}..{arr.max()} "
                         "(grow the store first?)")
    if not allow_repeats and len(np.unique(arr)) != len(arr):
        raise InputError("rows contain duplicates")
    return arr


def runs(rows: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """Sorted unique `rows` split into contiguous (start, stop, positions) runs."""
    if not len(rows):
        return []
    order = np.argsort(rows, kind="stable")
    srt = rows[order]
    cuts = np.flatnonzero(np.diff(srt) != 1) + 1
    return [(int(r[0]), int(r[-1]) + 1, p) for r, p in zip(np.split(srt, cuts), np.split(order, cuts))]


def read_rows(array: zarr.Array, rows: np.ndarray) -> np.ndarray:
    """array[rows], one contiguous slice per run of rows."""
    out = np.empty((len(rows), *array.shape[1:]), dtype=array.dtype)
    for start, stop, pos in runs(rows):
        out[pos] = array[start:stop]
    return out


def write_rows(array: zarr.Array, rows: np.ndarray, values: np.ndarray) -> None:
    """array[rows] = values, one contiguous slice per run of rows."""
    for start, stop, pos in runs(rows):
        array[start:stop] = values[pos]


def row_checksums(block: np.ndarray) -> np.ndarray:
    """CRC32 of each row's bytes, as stored (C order)."""
    block = np.ascontiguousarray(block)
    return np.array([zlib.crc32(row.tobytes()) for row in block], dtype=np.uint32)
