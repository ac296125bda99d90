"""How far the batches in training are: one tiny JSON object per batch, beside the weights.

A batch trains in a worker process, or on a Dask worker on another machine, for
minutes before it writes its chunk; the store's status moves only then. So the
trainer writes `progress/<chunk>.json` (identity-steps done of its total, every
few seconds) into the store itself, the one place every writer and the watching
command share, and removes it once the batch has committed (or failed). The
watcher (tasks/progress.py) lists the folder. Best effort both ways: progress
never fails a batch, and an object left by a killed writer (Ctrl-C ends worker
processes before they clear) is removed by the next watcher that sees its
process gone, or its object not rewritten for STALE_S on another machine.
"""
from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import fsspec

from storage.s3 import resolve_storage_options

PROGRESS_FOLDER = "progress"  # plain objects, not zarr (like leases/)
WRITE_EVERY_S = 2.0  # a batch rewrites its object at most this often
STALE_S = 300.0  # an object not rewritten for this long was left by a writer that died


@dataclass(frozen=True)
class BatchProgress:
    """One batch's training: `done` of `total` identity-steps (identities x fine-tune steps)."""

    chunk: int
    rows: tuple[int, ...]
    done: int
    total: int
    updated: float


def _folder(store_url: str, storage_options: Mapping[str, Any] | None) -> tuple[Any, str]:
    options = resolve_storage_options(store_url, storage_options) or {}
    fs, root = fsspec.core.url_to_fs(store_url, **options)
    return fs, f"{root.rstrip('/')}/{PROGRESS_FOLDER}"


class ProgressWriter:
    """The trainer's side: `step(done, total)` after every step; written at most every `every_s`."""

    def __init__(self, store_url: str, storage_options: Mapping[str, Any] | None, chunk: int, rows: list[int],
                 every_s: float = WRITE_EVERY_S) -> None:
        self.fs, folder = _folder(store_url, storage_options)
        self.folder, self.path = folder, f"{folder}/{chunk}.json"
        self.chunk, self.rows, self.every_s, self.last = chunk, tuple(rows), every_s, 0.0

    def step(self, done: int, total: int) -> None:
        now = time.time()
        if now - self.last < self.every_s and done < total:
            return
        self.last = now
        body = {"chunk": self.chunk, "rows": list(self.rows), "done": done, "total": total, "updated": now,
                "host": socket.gethostname(), "pid": os.getpid()}
        try:
            self.fs.makedirs(self.folder, exist_ok=True)
            self.fs.pipe_file(self.path, json.dumps(body).encode())
        except Exception:  # noqa: BLE001 - progress is for the eye; the batch goes on without it
            pass

    def clear(self) -> None:
        """Remove the object (the batch committed or failed), and the folder once empty (local stores)."""
        try:
            self.fs.rm_file(self.path)
        except Exception:  # noqa: BLE001 - already gone, or the store unreachable: it goes stale
            pass
        try:
            self.fs.rmdir(self.folder)  # zarr lists whatever sits in a store's folder
        except Exception:  # noqa: BLE001 - another batch's object is still there, or an object store
            pass


def batches_in_training(store_url: str, storage_options: Mapping[str, Any] | None = None,
                        stale_s: float = STALE_S) -> list[BatchProgress]:
    """The watcher's side: every batch that reported a step in the last `stale_s` seconds."""
    try:
        fs, folder = _folder(store_url, storage_options)
        fs.invalidate_cache(folder)
        names = fs.ls(folder, detail=False)
    except Exception:  # noqa: BLE001 - no batch has started yet, or the store is not there yet
        return []
    found, now = [], time.time()
    for name in names:
        try:
            body = json.loads(fs.cat_file(name))
            item = BatchProgress(int(body["chunk"]), tuple(body["rows"]), int(body["done"]), int(body["total"]),
                                 float(body["updated"]))
        except Exception:  # noqa: BLE001 - removed while listed, or half-written by a writer
            continue
        if now - item.updated < stale_s and not _writer_gone(body):
            found.append(item)
        else:
            _tidy(fs, name, folder)  # left by a killed writer (Ctrl-C ends workers before they clear)
    return found


def _writer_gone(body: Mapping[str, Any]) -> bool:
    """The writer ran on this machine and its process has exited (other machines' writers go stale instead)."""
    if body.get("host") != socket.gethostname() or not isinstance(body.get("pid"), int):
        return False
    try:
        os.kill(body["pid"], 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _tidy(fs: Any, name: str, folder: str) -> None:
    try:
        fs.rm_file(name)
        fs.rmdir(folder)
    except Exception:  # noqa: BLE001 - another object is still there, or the store is read-only here
        pass
