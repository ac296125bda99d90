"""Progress a person can follow: one line per stage with its time, and a bar of identities trained.

The bar reads the store (done rows), so it moves however the batches run:
threads here, worker processes, or Dask workers elsewhere.
"""
from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator

from tqdm import tqdm

from storage.weight_store import WeightStore
from w2w_core.errors import W2WError

POLL_S = 2.0  # how often a bar re-reads the store's status


class Stages:
    """Numbered stages: `with stages.stage("fit the space"):` prints its line and keeps its seconds."""

    def __init__(self, total: int) -> None:
        self.total, self.seconds = total, {}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        print(f"[{len(self.seconds) + 1}/{self.total}] {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - started, 1)
            print(f"      {name}: {self.seconds[name]:.1f} s", file=sys.stderr, flush=True)


def _watch(url: str, total: int | None, stop: threading.Event, poll_s: float, desc: str) -> None:
    with tqdm(total=total, desc=desc, unit="id", file=sys.stderr) as bar:
        while True:
            try:
                store = WeightStore.open(url, read_only=True)
                bar.total = total or store.n_rows
                counts = store.counts(range(min(bar.total, store.n_rows)))
                bar.n = counts["done"]
                bar.set_postfix(failed=counts["failed"])
                bar.refresh()
            except W2WError:
                pass  # the flow has not created the store yet, or not grown it to `total`
            if stop.wait(poll_s):
                return


@contextlib.contextmanager
def store_progress(url: str, total: int | None, desc: str = "identities", poll_s: float = POLL_S,
                   enabled: bool = True) -> Iterator[None]:
    """A bar of the store's done rows (of `total`; None: all its rows) while the block runs."""
    if not enabled:
        yield
        return
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(url, total, stop, poll_s, desc), daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
