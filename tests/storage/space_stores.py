"""Weight stores for the PCA tests, written through the real WeightStore (done, failed, pending rows)."""
from __future__ import annotations

import numpy as np
import zarr

from storage.format import DONE, FAILED, PENDING
from storage.weight_store import StoreSpec, WeightStore


def write_store(url: str, x: np.ndarray, done: np.ndarray, rows_per_chunk: int = 16,
                dtype: str = "float32", params_per_chunk: int | None = None,
                storage_options: dict | None = None) -> WeightStore:
    """A store holding the rows of `x` where `done`; other rows are left pending, or marked failed
    with garbage written into their chunk first (a fit that read them would be visibly wrong)."""
    n, d = x.shape
    spec = StoreSpec(url, rows_per_chunk, dtype=dtype, params_per_chunk=params_per_chunk,
                     storage_options=storage_options)
    store = WeightStore.create(spec, {"n_params": d}, {}, [], n)
    status = np.full(n, DONE, np.uint8)
    store.assign_identities(range(n), [f"id{i}" for i in range(n)], np.zeros((n, 0), bool))
    for batch in store.batches():
        rows = np.array(batch)
        good = rows[done[rows]]
        bad = rows[~done[rows]]
        if len(bad):  # garbage data, then the status of a crash (pending) or a failure
            garbage = np.random.default_rng(len(bad)).normal(0, 1e3, (len(bad), d)).astype(np.float32)
            store.write_rows(bad, garbage, [0.0] * len(bad), [0] * len(bad), "x")
            status[bad] = np.where(bad % 2, PENDING, FAILED)
        if len(good):
            store.write_rows(good, x[good], [0.0] * len(good), [0] * len(good), "h")
    group = zarr.open_group(url, mode="r+", storage_options=storage_options)
    group["status"][:] = status
    return store
