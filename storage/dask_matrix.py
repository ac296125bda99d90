"""The weight store's done rows as a `RowMatrix` for the PCA: Dask over the Zarr chunks.

`weights` is read with `dask.array.from_zarr`, in row blocks made of whole
store chunks (about `block_bytes` each), keeping only rows whose `status` is
done. A pass streams the blocks: by default a few threads read and decode
blocks ahead (`prefetch`) while the calling thread runs the PCA kernel on the
previous one, so memory is (prefetch + 1) blocks plus the kernel's output,
never the matrix. With a Dask distributed client the kernels run on the
workers next to the data, with the pass's shared arrays broadcast once.
"""
from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import dask.array as da
import numpy as np

from storage.boundary import redact_url, storage_errors
from storage.read_config import ReadConfig
from storage.weight_store import WeightStore
from w2w_core.errors import InputError
from w2w_core.pca.backend import array_module
from w2w_core.pca.operator import Combine, Kernel


@dataclass(frozen=True)
class _Block:
    start: int  # first store row of the block
    stop: int  # one past its last store row
    keep: np.ndarray | None  # positions of done rows inside the block; None: all rows are done
    out_start: int  # position of its first done row among all done rows


def _blocks(done: np.ndarray, chunk_rows: int, block_rows: int) -> list[_Block]:
    """Runs of consecutive store chunks that hold a done row, cut at `block_rows` rows."""
    blocks, out, n_store = [], 0, len(done)
    start = None
    for c0 in range(0, n_store + chunk_rows, chunk_rows):
        c1 = min(n_store, c0 + chunk_rows)
        useful = c0 < n_store and done[c0:c1].any()
        if start is not None and (not useful or c0 - start >= block_rows):
            stop = min(c0, n_store)
            keep = np.flatnonzero(done[start:stop])
            blocks.append(_Block(start, stop, None if len(keep) == stop - start else keep, out))
            out, start = out + len(keep), None
        if useful and start is None:
            start = c0
    return blocks


def _row_chunks(blocks: list[_Block], n_store: int) -> tuple[int, ...]:
    """Dask row chunks: one per block, and one per gap of skipped rows (never read)."""
    cuts = sorted({0, n_store, *(b.start for b in blocks), *(b.stop for b in blocks)})
    return tuple(b - a for a, b in zip(cuts[:-1], cuts[1:]))


def _apply(block: np.ndarray, keep: np.ndarray | None, kernel: Kernel, start: int, stop: int,
           *shared: Any) -> Any:
    """Drop rows that are not done, then run the kernel (on a worker, or on the calling thread)."""
    return kernel(block if keep is None else block[keep], start, stop, *shared)


class ZarrRowMatrix:
    """The done rows of a weight store at `url`, read in passes (see `RowMatrix`)."""

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None,
                 config: ReadConfig = ReadConfig(), client: Any = None) -> None:
        self.xp: ModuleType = array_module(config.backend)
        self.url, self.config = url, config
        store = WeightStore.open(url, storage_options, read_only=True)
        self._weights = store.weights
        n_store, self.n_cols = (int(s) for s in self._weights.shape)
        self.row_ids = store.done_rows().astype(np.int64)
        done = np.zeros(n_store, dtype=bool)
        done[self.row_ids] = True
        self.n_rows = len(self.row_ids)
        if self.n_rows == 0:
            raise InputError(f"the store at {redact_url(url)} has no done rows to fit (of {n_store}): "
                             "train some identities first")
        chunk_rows, self.column_chunk = self._weights.chunks
        block_rows = max(1, config.block_bytes // (4 * self.n_cols * chunk_rows)) * chunk_rows
        self._blocks = _blocks(done, chunk_rows, block_rows)
        self._row_chunks = _row_chunks(self._blocks, n_store)
        self._itemsize = self._weights.dtype.itemsize
        self._client, self._own_client = client, False
        if client is None and config.scheduler:
            from distributed import Client

            self._client, self._own_client = Client(config.scheduler), True
        self.bytes_read = 0

    def __repr__(self) -> str:
        return (f"ZarrRowMatrix({redact_url(self.url)!r}, {self.n_rows} done rows x {self.n_cols} params, "
                f"{len(self._blocks)} blocks, backend={self.xp.__name__})")

    def close(self) -> None:
        if self._own_client:
            self._client.close()
            self._client, self._own_client = None, False

    def __enter__(self) -> "ZarrRowMatrix":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _pieces(self, columns: slice | None) -> tuple[list[da.Array], int]:
        """One dask array per block (rows and columns aligned to the read), and its column count
        as read from storage (whole column chunks)."""
        c0, c1, _ = (columns or slice(None)).indices(self.n_cols)
        col_chunks = tuple(w for w in (c0, c1 - c0, self.n_cols - c1) if w > 0)
        # a fresh name per pass: a distributed scheduler may still be releasing the last pass's keys
        x = da.from_zarr(self._weights, chunks=(self._row_chunks, col_chunks),
                         name=f"w2w-weights-{uuid.uuid4().hex}")
        j = 1 if c0 > 0 else 0
        block_index = {s: i for i, s in enumerate(np.cumsum((0,) + self._row_chunks)[:-1])}
        pieces = [x.blocks[block_index[b.start], j] for b in self._blocks]
        cc = self.column_chunk
        read_cols = min(self.n_cols, -(-c1 // cc) * cc) - (c0 // cc) * cc
        return pieces, read_cols

    def pass_over_rows(self, kernel: Kernel, combine: Combine, shared: Sequence[Any] = (),
                       columns: slice | None = None) -> None:
        pieces, read_cols = self._pieces(columns)
        with storage_errors(self.url, "read the weight matrix"):
            if self._client is None:
                self._pass_threads(pieces, kernel, combine, shared)
            else:
                self._pass_distributed(pieces, kernel, combine, shared)
        self.bytes_read += sum((b.stop - b.start) for b in self._blocks) * read_cols * self._itemsize

    def _pass_threads(self, pieces: list[da.Array], kernel: Kernel, combine: Combine,
                      shared: Sequence[Any]) -> None:
        """Reader threads decode blocks ahead; this thread runs each kernel in turn."""
        with ThreadPoolExecutor(max_workers=max(1, self.config.prefetch),
                                thread_name_prefix="w2w-pca-read") as pool:
            pending: deque = deque()
            todo = iter(zip(self._blocks, pieces))
            for _ in range(max(1, self.config.prefetch)):
                self._submit_read(pool, pending, todo)
            while pending:
                block, future = pending.popleft()
                data = future.result()
                self._submit_read(pool, pending, todo)
                n = len(data) if block.keep is None else len(block.keep)
                start = block.out_start
                combine(start, start + n, _apply(data, block.keep, kernel, start, start + n, *shared))
                del data

    @staticmethod
    def _submit_read(pool: ThreadPoolExecutor, pending: deque, todo: Any) -> None:
        item = next(todo, None)
        if item is not None:
            block, piece = item
            pending.append((block, pool.submit(piece.compute, scheduler="sync")))

    def _pass_distributed(self, pieces: list[da.Array], kernel: Kernel, combine: Combine,
                          shared: Sequence[Any]) -> None:
        """Kernels run on the workers next to their block; results come back to be combined here."""
        from distributed import as_completed

        client = self._client
        shared_futures = [client.scatter(s, broadcast=True, hash=False) for s in shared]
        window = 2 * max(1, len(client.scheduler_info().get("workers", {})))
        todo, running = iter(zip(self._blocks, pieces)), as_completed()
        spans = {}

        def submit() -> None:
            item = next(todo, None)
            if item is None:
                return
            block, piece = item
            n = (block.stop - block.start) if block.keep is None else len(block.keep)
            span = (block.out_start, block.out_start + n)
            data = client.compute(piece)
            future = client.submit(_apply, data, block.keep, kernel, *span, *shared_futures, pure=False)
            spans[future.key] = (span, data)  # holding `data` keeps the block alive until used
            running.add(future)

        for _ in range(window):
            submit()
        for future in running:
            span, data = spans.pop(future.key)
            combine(*span, future.result())
            future.release()
            data.release()
            submit()
