"""How the PCA reads the weight store: block size, read-ahead, where kernels run, on what arrays.

Its own light module (no Dask, no Zarr), so the CLI builds its options from it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReadConfig:
    """How the PCA reads the store."""

    block_bytes: int = 256 * 2**20  # float32 bytes of one row block (whole store chunks, at least one)
    prefetch: int = 1  # blocks read ahead while one is computed (threads mode); zarr reads from
    # several threads at once were slower here than one reader (5.4 s against 3.2 s a pass)
    scheduler: str | None = None  # None: threads in this process; "tcp://host:port": a Dask scheduler
    backend: str = "numpy"  # array module of the blocks: numpy (CPU) or cupy (GPU)
