"""Writing rows into a weight chunk that no longer decodes, when nothing in it needs keeping.

A partial write of a chunk makes zarr read and decode the old chunk first, so
a corrupt chunk would block every later write of its rows. If none of the
chunk's other rows is done (they are pending or failed, so hold nothing
worth keeping), the whole chunk is rewritten: the new rows, the array's fill
value elsewhere. zarr writes a whole chunk without reading the old one.
"""
from __future__ import annotations

import numpy as np
import zarr

from storage import format as fmt
from storage.rows import read_rows


def rewrite_chunks_with(weights: zarr.Array, status: zarr.Array, rows: np.ndarray, data: np.ndarray) -> bool:
    """Write `data` at `rows` by rewriting their whole row chunks; False (nothing written) if a
    chunk holds a done row besides `rows`."""
    r, n_rows = weights.chunks[0], weights.shape[0]
    spans = [(int(c) * r, min((int(c) + 1) * r, n_rows)) for c in np.unique(rows // r)]
    for start, stop in spans:
        others = np.setdiff1d(np.arange(start, stop), rows)
        if len(others) and (read_rows(status, others) == fmt.DONE).any():
            return False
    for start, stop in spans:
        block = np.full((stop - start, weights.shape[1]), weights.fill_value, dtype=weights.dtype)
        inside = (rows >= start) & (rows < stop)
        block[rows[inside] - start] = data[inside]
        weights[start:stop, :] = block
    return True
