"""Leases on row chunks: at most one writer trains and writes a batch, even when a task is delivered twice.

Prefect tasks are at-least-once: a Dask worker presumed dead gets its batch
rerun elsewhere while it may still be running, and two flow runs can overlap.
Two writers of one chunk whose bytes differ (a GPU run and a CPU rerun, another
learning rate) could otherwise leave a row whose data, checksum and status come
from different writers.

The object store here (`rclone serve s3`, and many S3-compatible servers)
ignores conditional writes (If-None-Match), so the lease uses only what every
store guarantees: a write of a new, uniquely named object, and a listing that
shows every object written before it (S3 has been strongly consistent since
2020; a local folder always is). A writer announces itself with an entry
`leases/<chunk>/<expiry>-<token>.json`, then lists the chunk's entries: it holds
the lease only if its entry is the only live one there. Two writers that both
announce themselves before listing both see two entries and both back off
(then retry after a random delay); a writer that lists before the other
announces holds it, and the other's list then shows it, so two can never both
hold it. An entry expires after `ttl_s`; the holder renews it (a fresh entry,
then the old one removed) while it works and checks it is still current right
before it writes, so a holder that stalled past its expiry neither renews nor writes.
"""
from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import fsspec

from storage.boundary import storage_errors
from storage.format import LEASES_FOLDER
from storage.s3 import resolve_storage_options


@dataclass
class Lease:
    """A held lease on one row chunk (renewed in the background until released)."""

    fs: Any
    folder: str
    token: str
    ttl_s: float
    entry: str = ""
    expires: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _renewer: threading.Thread | None = field(default=None, repr=False)

    @property
    def current(self) -> bool:
        """Still ours and unexpired (with a margin): checked right before the chunk is written."""
        return time.time() < self.expires - 0.1 * self.ttl_s and not self._stop.is_set()

    def release(self) -> None:
        """Stop renewing and remove the entry; never raises (an entry left behind lapses after its ttl)."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        try:
            _remove(self.fs, self.entry)
            self.fs.rmdir(self.folder)  # local folders only; object stores have none to remove
            self.fs.rmdir(self.folder.rsplit("/", 1)[0])  # `leases/` too once empty: zarr lists what it finds
        except Exception:  # noqa: BLE001 - the store unreachable, or another entry arrived: left to expire
            pass


class ChunkLeases:
    """The leases of one weight store's row chunks."""

    def __init__(self, store_url: str, storage_options: Mapping[str, Any] | None, ttl_s: float) -> None:
        options = resolve_storage_options(store_url, storage_options) or {}
        self.url, self.ttl_s = store_url, ttl_s
        self.fs, self.root = fsspec.core.url_to_fs(store_url, **options)

    def _folder(self, chunk: int) -> str:
        return f"{self.root.rstrip('/')}/{LEASES_FOLDER}/{chunk}"

    def live_entries(self, chunk: int) -> list[str]:
        """The unexpired entries of a chunk's lease, read fresh."""
        folder, now = self._folder(chunk), time.time()
        self.fs.invalidate_cache(folder)
        try:
            names = self.fs.ls(folder, detail=False, refresh=True) if _refreshes(self.fs) else self.fs.ls(folder, detail=False)
        except FileNotFoundError:
            return []
        live = []
        for name in names:
            expiry = _expiry(name)
            if expiry is not None and expiry > now:
                live.append(name)
            elif expiry is not None and expiry < now - self.ttl_s:
                _remove(self.fs, name)  # long dead: tidied by whoever looks
        return live

    def try_acquire(self, chunk: int) -> Lease | None:
        """The chunk's lease if no other live writer holds or is taking it; None otherwise."""
        with storage_errors(self.url, "take a lease on a batch"):
            lease = Lease(self.fs, self._folder(chunk), uuid.uuid4().hex, self.ttl_s)
            self._announce(lease)
            if self.live_entries(chunk) != [lease.entry]:
                _remove(self.fs, lease.entry)
                return None
            lease._renewer = threading.Thread(target=self._renew, args=(lease,), daemon=True,
                                              name=f"w2w-lease-{chunk}")
            lease._renewer.start()
            return lease

    def acquire(self, chunk: int, wait_s: float, poll_s: float = 1.0) -> Lease | None:
        """Try until the lease is ours or `wait_s` passed (random backoff, so two contenders do not collide forever)."""
        deadline = time.monotonic() + wait_s
        while True:
            lease = self.try_acquire(chunk)
            if lease is not None or time.monotonic() >= deadline:
                return lease
            time.sleep(random.uniform(0.2, 1.0) * poll_s)

    def _announce(self, lease: Lease) -> None:
        expires = time.time() + lease.ttl_s  # the lease's own expiry moves only once the entry is written
        entry = f"{lease.folder}/{expires:.3f}-{lease.token}.json"
        body = json.dumps({"token": lease.token, "expires": expires, "host": socket.gethostname(),
                           "pid": os.getpid()}).encode()
        for attempt in range(5):  # a holder releasing meanwhile may remove the (then empty) local folders
            try:
                self.fs.makedirs(lease.folder, exist_ok=True)
                self.fs.pipe_file(entry, body)
                break
            except FileNotFoundError:
                if attempt == 4:
                    raise
        old, lease.entry, lease.expires = lease.entry, entry, expires
        if old:
            _remove(self.fs, old)

    def _renew(self, lease: Lease) -> None:
        while not lease._stop.wait(lease.ttl_s / 3):
            if not lease.current:  # this process stalled past its lease: another writer may hold it now
                return
            try:
                self._announce(lease)
            except Exception:  # noqa: BLE001 - an unreachable store: the lease lapses and `current` says so
                return


def _expiry(name: str) -> float | None:
    try:
        return float(name.rsplit("/", 1)[-1].split("-", 1)[0])
    except ValueError:
        return None


def _refreshes(fs: Any) -> bool:
    return "s3" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


def _remove(fs: Any, path: str) -> None:
    if not path:
        return
    try:
        fs.rm_file(path)
    except FileNotFoundError:
        pass
