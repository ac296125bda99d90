"""Re-reading done rows: what "verified" means for a row of the weight store.

A done row is trusted only if (1) every chunk holding it decodes (zarr's
CRC32C codec catches bytes changed on disk), (2) its values are finite and
(3) the CRC32 of its bytes equals `row_checksum`, written with the data
(catches a chunk that decodes but holds other bytes than were written, such
as a stale or swapped object). Memory stays at one chunk at a time.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import zarr

from storage.boundary import is_transport_error


@dataclass(frozen=True)
class BadRow:
    row: int
    reason: str


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of `WeightStore.verify()`."""

    checked: int  # done rows re-read
    bad: list[BadRow] = field(default_factory=list)  # rows that must not be trusted

    @property
    def ok(self) -> bool:
        return not self.bad

    @property
    def bad_rows(self) -> list[int]:
        return [b.row for b in self.bad]


def _verify_row_chunk(weights: zarr.Array, stored_sums: np.ndarray, rows: np.ndarray,
                      start: int, stop: int) -> list[BadRow]:
    """Check the done `rows` (absolute indices) of the row chunk start..stop."""
    local = rows - start
    crc = np.zeros(len(rows), dtype=np.uint64)
    finite = np.ones(len(rows), dtype=bool)
    step = weights.chunks[1]
    for j, p0 in enumerate(range(0, weights.shape[1], step)):
        try:
            block = weights[start:stop, p0:p0 + step][local]
        except Exception as err:  # a corrupt chunk fails in codec-specific ways
            if is_transport_error(err):
                raise
            reason = (f"weights chunk ({start // weights.chunks[0]}, {j}) unreadable: "
                      f"{type(err).__name__}: {str(err)[:120]}")
            return [BadRow(int(r), reason) for r in rows]
        finite &= np.isfinite(block).all(axis=1)
        for i, row in enumerate(np.ascontiguousarray(block)):
            crc[i] = zlib.crc32(row.tobytes(), int(crc[i]))
    bad = []
    for i, r in enumerate(rows):
        if not finite[i]:
            bad.append(BadRow(int(r), "non-finite values in a done row"))
        elif int(crc[i]) != int(stored_sums[i]):
            bad.append(BadRow(int(r), f"checksum mismatch: row_checksum {int(stored_sums[i]):#010x}, "
                                      f"data {int(crc[i]):#010x}"))
    return bad


def verify_rows(weights: zarr.Array, row_checksum: zarr.Array, rows: np.ndarray) -> VerifyReport:
    """Check each of `rows` (done rows) chunk by chunk; see the module docstring."""
    rows = np.sort(np.asarray(rows, dtype=np.int64))
    r = weights.chunks[0]
    bad: list[BadRow] = []
    for c in np.unique(rows // r):
        start, stop = int(c) * r, min((int(c) + 1) * r, weights.shape[0])
        in_chunk = rows[(rows >= start) & (rows < stop)]
        try:
            sums = row_checksum[start:stop][in_chunk - start]
        except Exception as err:  # a corrupt chunk fails in codec-specific ways
            if is_transport_error(err):
                raise
            bad += [BadRow(int(x), f"row_checksum chunk {int(c)} unreadable: {type(err).__name__}")
                    for x in in_chunk]
            continue
        bad += _verify_row_chunk(weights, sums, in_chunk, start, stop)
    return VerifyReport(checked=len(rows), bad=bad)
