"""Progress a person can follow: one line per stage with its time, and a line of identities trained.

The line reads the store, so it moves however the batches run: threads here,
worker processes, or Dask workers elsewhere. Its identities come from the rows'
status (they move when a batch commits); its steps, every few seconds, from the
progress objects the training batches keep in the store (storage/progress.py).
On a terminal the line is redrawn in place, and log records clear it before they
print; elsewhere (a pipe, CI's log) it is printed as a new line when it changed.
"""
from __future__ import annotations

import contextlib
import logging
import math
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

import numpy as np

from storage.format import DONE, FAILED
from storage.progress import BatchProgress, batches_in_training
from storage.weight_store import WeightStore
from w2w_core.errors import W2WError

POLL_S = 2.0  # how often the line re-reads the store
PRINT_EVERY_S = 5.0  # off a terminal: at most one line this often (and only when it changed)


class Stages:
    """Numbered stages: `with stages.stage("fit the space"):` prints its line and keeps its seconds."""

    def __init__(self, total: int) -> None:
        self.total, self.seconds = total, {}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        CONSOLE.print(f"[{len(self.seconds) + 1}/{self.total}] {name} ...")
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - started, 1)
            CONSOLE.print(f"      {name}: {self.seconds[name]:.1f} s")


class ConsoleLine:
    """stderr, shared by the progress line and whole lines (stages, log records): a whole line first
    clears the progress line from a terminal, so the two never run into each other."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream, self.lock, self.shown = stream, threading.RLock(), ""

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stderr  # looked up late: tests and Typer swap sys.stderr

    @property
    def live(self) -> bool:
        return bool(getattr(self.stream, "isatty", lambda: False)())

    def clear(self) -> None:
        with self.lock:
            if self.shown and self.live:
                self.stream.write("\r\033[K")
                self.stream.flush()
            self.shown = ""

    def print(self, text: str) -> None:
        with self.lock:
            self.clear()
            self.stream.write(text + "\n")
            self.stream.flush()

    def show(self, text: str) -> None:
        """The progress line: redrawn in place on a terminal, a new line elsewhere."""
        with self.lock:
            if self.live:
                self.stream.write("\r\033[K" + text)
                self.stream.flush()
                self.shown = text
            else:
                self.print(text)


CONSOLE = ConsoleLine()


class ClearsProgressLine(logging.Filter):
    """On a console log handler: clear the progress line before the record prints (the next poll redraws it)."""

    def __init__(self, console: ConsoleLine | None = None) -> None:
        super().__init__()
        self.console = console or CONSOLE

    def filter(self, record: logging.LogRecord) -> bool:
        self.console.clear()
        return True


@dataclass
class _Rate:
    """Identity-steps per second since the first step seen: the estimate of the time left."""

    started: tuple[float, int] | None = None

    def seconds_left(self, work_done: int, work_left: int, now: float) -> float | None:
        if self.started is None:
            self.started = (now, work_done)
            return None
        t0, w0 = self.started
        if now - t0 < 5 or work_done <= w0:
            return None
        return work_left * (now - t0) / (work_done - w0)


def _duration(seconds: float) -> str:
    seconds = int(math.ceil(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _row_ranges(batches: list[BatchProgress]) -> str:
    spans = [(b.rows[0], b.rows[-1]) for b in sorted(batches, key=lambda b: b.chunk)]
    return ", ".join(f"{first}-{last}" if last != first else f"{first}" for first, last in spans)


def progress_line(desc: str, status: np.ndarray, batches: list[BatchProgress], rate: _Rate, now: float) -> str:
    """'identities 8/40 done | training rows 8-15: step 120/200 (60%) | 2 min 10 s left'."""
    done, failed, total = int((status == DONE).sum()), int((status == FAILED).sum()), len(status)
    live = [b for b in batches if b.rows and (status[[r for r in b.rows if r < total]] != DONE).any()]
    parts = [f"{desc} {done}/{total} done" + (f", {failed} failed" if failed else "")]
    if live:
        steps = max(b.total // len(b.rows) for b in live)  # fine-tune steps per identity
        if len(live) == 1:
            b = live[0]
            step = b.done * steps // max(1, b.total)
            parts.append(f"training rows {_row_ranges(live)}: step {step}/{steps} ({100 * b.done // max(1, b.total)}%)")
        else:
            done_steps, all_steps = sum(b.done for b in live), sum(b.total for b in live)
            parts.append(f"training rows {_row_ranges(live)}: {done_steps:,}/{all_steps:,} identity-steps "
                         f"({100 * done_steps // max(1, all_steps)}%)")
        in_flight = sum(b.done for b in live)
        work_done = done * steps + in_flight
        work_left = max(0, (total - done - failed) * steps - in_flight)
        left = rate.seconds_left(work_done, work_left, now)
        parts.append(f"{_duration(left)} left" if left is not None else "time left: measuring")
    return " | ".join(parts)


def _read_line(url: str, total: int | None, desc: str, rate: _Rate) -> str | None:
    try:
        store = WeightStore.open(url, read_only=True)
        n = min(total or store.n_rows, store.n_rows)
        return progress_line(desc, store.status(range(n)), batches_in_training(url), rate, time.time())
    except W2WError:
        return None  # the flow has not created the store yet, or not grown it to `total`


def _watch(url: str, total: int | None, stop: threading.Event, poll_s: float, desc: str) -> None:
    rate, shown, shown_at = _Rate(), "", -math.inf
    while not stop.is_set():
        line, now = _read_line(url, total, desc, rate), time.time()
        if line and line != shown and (CONSOLE.live or now - shown_at >= PRINT_EVERY_S):
            CONSOLE.show(line)
            shown, shown_at = line, now
        elif shown and CONSOLE.live and not CONSOLE.shown:
            CONSOLE.show(shown)  # a log record cleared it
        stop.wait(poll_s)
    final = _read_line(url, total, desc, rate)
    if final and (final != shown or CONSOLE.live):
        CONSOLE.print(final)  # the last state stays on the screen as a line of its own


@contextlib.contextmanager
def store_progress(url: str, total: int | None, desc: str = "identities", poll_s: float = POLL_S,
                   enabled: bool = True) -> Iterator[None]:
    """The progress line of the store's rows (of `total`; None: all its rows) while the block runs."""
    if not enabled:
        yield
        return
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(url, total, stop, poll_s, desc), daemon=True,
                               name="w2w-progress")
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
