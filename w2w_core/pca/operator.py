"""The weight matrix as the PCA sees it: something read in passes over row blocks.

The algorithms never hold X [n_rows, n_cols]; they hand a *kernel* to
`pass_over_rows`, which applies it to every block of rows X[start:stop] and
gives each result to a *combine* callback on the caller's side. A pass reads
the data once, so the number of passes is the cost that counts on a big store.

`ArrayMatrix` implements the protocol over an in-memory array (tests, small
data, notebooks); storage/dask_matrix.py implements it over the Zarr store
with Dask. `CountingMatrix` wraps either and records every pass.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from w2w_core.errors import InputError

# kernel(block [rows, cols] (host or device), start, stop, *shared) -> result; start/stop
# number the matrix rows the block holds, so a kernel can take its slice of a shared [n, l] array.
Kernel = Callable[..., Any]
Combine = Callable[[int, int, Any], None]


class RowMatrix(Protocol):
    """X [n_rows, n_cols], visible only through passes over blocks of rows."""

    xp: ModuleType  # numpy or cupy: shared arrays and kernel results live here
    n_rows: int
    n_cols: int
    row_ids: np.ndarray  # [n_rows] int64: which rows of the source (e.g. the store) these are
    bytes_read: int  # cumulative bytes read, counted in the stored dtype (decoded, before any cast)
    column_chunk: int  # columns stored together: a column slab aligned to it reads each chunk once

    def pass_over_rows(self, kernel: Kernel, combine: Combine, shared: Sequence[Any] = (),
                       columns: slice | None = None) -> None:
        """One pass: `combine(start, stop, kernel(X[start:stop, columns], start, stop, *shared))`
        for every block of rows, in any order."""
        ...


@dataclass(frozen=True)
class PassRecord:
    """One pass over the data, as reported to the caller (progress, benchmarks)."""

    index: int  # 1-based number of this pass in the fit
    label: str  # what the pass computed, e.g. "power 1/2: Z = X̃ᵀQ"
    seconds: float
    bytes_read: int  # bytes read from the source during the pass


class ArrayMatrix:
    """`RowMatrix` over an array already in memory, read in blocks of `block_rows` rows."""

    def __init__(self, array: Any, xp: ModuleType = np, block_rows: int = 256,
                 row_ids: np.ndarray | None = None) -> None:
        if getattr(array, "ndim", None) != 2:
            raise InputError(f"the weight matrix must be 2-D [rows, params], got shape "
                             f"{getattr(array, 'shape', None)}")
        self.array, self.xp, self.block_rows = array, xp, max(1, int(block_rows))
        self.n_rows, self.n_cols = (int(s) for s in array.shape)
        self.row_ids = np.arange(self.n_rows, dtype=np.int64) if row_ids is None else np.asarray(row_ids)
        self.bytes_read, self.column_chunk = 0, 1

    def pass_over_rows(self, kernel: Kernel, combine: Combine, shared: Sequence[Any] = (),
                       columns: slice | None = None) -> None:
        cols = slice(None) if columns is None else columns
        for start in range(0, self.n_rows, self.block_rows):
            stop = min(self.n_rows, start + self.block_rows)
            block = self.array[start:stop, cols]
            self.bytes_read += block.nbytes
            combine(start, stop, kernel(block, start, stop, *shared))


class CountingMatrix:
    """Wraps a `RowMatrix`; every pass is timed, labelled and reported to `on_pass`."""

    def __init__(self, inner: RowMatrix, on_pass: Callable[[PassRecord], None] | None = None) -> None:
        self.inner, self.on_pass = inner, on_pass
        self.xp, self.n_rows, self.n_cols = inner.xp, inner.n_rows, inner.n_cols
        self.row_ids, self.column_chunk = inner.row_ids, inner.column_chunk
        self.records: list[PassRecord] = []

    @property
    def bytes_read(self) -> int:
        return self.inner.bytes_read

    def pass_over_rows(self, kernel: Kernel, combine: Combine, shared: Sequence[Any] = (),
                       columns: slice | None = None, label: str = "") -> None:
        before, start = self.inner.bytes_read, time.perf_counter()
        self.inner.pass_over_rows(kernel, combine, shared, columns)
        record = PassRecord(len(self.records) + 1, label, time.perf_counter() - start,
                            self.inner.bytes_read - before)
        self.records.append(record)
        if self.on_pass is not None:
            self.on_pass(record)
