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
from pathlib import Path
from typing import Any

import fsspec

from storage.boundary import storage_errors
from storage.format import LEASES_FOLDER
from storage.s3 import resolve_storage_options

RELEASE_WAIT_S = 5.0  # how long `release_held` waits for the store before leaving the entries to lapse


@dataclass(frozen=True)
class Holder:
    """Who wrote a lease entry. `machine` (host name, boot id, pid namespace) says whether its pid can be
    looked up here; `started` (the process's start time, in clock ticks since boot) tells a reused pid apart."""

    host: str
    pid: int
    machine: str | None = None  # None: an entry written before w2w recorded it, or on a system without /proc
    started: int | None = None

    @classmethod
    def of_entry(cls, body: bytes) -> Holder | None:
        """The holder an entry's body names; None if it does not say (it then counts until it expires)."""
        try:
            doc = json.loads(body)
            return cls(str(doc["host"]), int(doc["pid"]), doc.get("machine"), doc.get("started"))
        except (ValueError, KeyError, TypeError):
            return None

    def known_dead(self) -> bool:
        """True only if this holder ran on this machine and its process is gone (or its pid is another's now)."""
        if self.machine is None or self.machine != this_machine():
            return False
        started = _process_started(self.pid)
        return started is None or (self.started is not None and started != self.started)

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}"


def this_machine() -> str | None:
    """Host name, boot id and pid namespace: two processes see each other's pids only if all three match."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return None  # no /proc: this system's pids are not looked up, its entries wait for their expiry
    return f"{socket.gethostname()}/{boot}/{namespace}"


def _process_started(pid: int) -> int | None:
    """The start time of the live process `pid` (clock ticks since boot); None if it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


_HELD: dict[str, Lease] = {}  # every lease this process holds now, by token: released when it is stopped
_HELD_LOCK = threading.RLock()  # reentrant: a signal handler may run on a thread that is inside it


def release_held(wait_s: float = RELEASE_WAIT_S) -> int:
    """Release every lease this process holds (from a signal handler: the process is about to end); how many.

    Runs on a thread of its own and waits at most `wait_s`: the signal may have
    interrupted this process inside a store call, and an entry that cannot be
    removed now still lapses after its ttl (or is taken over once the process is gone)."""
    with _HELD_LOCK:
        held = list(_HELD.values())
    releasing = threading.Thread(target=lambda: [lease.release() for lease in held], daemon=True,
                                 name="w2w-lease-release")
    releasing.start()
    releasing.join(wait_s)
    return len(held)


@dataclass(eq=False)
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
        _HELD.pop(self.token, None)  # atomic, and no lock: `release_held` may run it while its caller holds one
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join()
        try:
            _remove(self.fs, self.entry)
        except Exception:  # noqa: BLE001 - the store unreachable: left to expire
            return
        _remove_folder(self.fs, self.folder)
        _remove_folder(self.fs, self.folder.rsplit("/", 1)[0])  # `leases/` too once empty: zarr lists what it finds


class ChunkLeases:
    """The leases of one weight store's row chunks."""

    def __init__(self, store_url: str, storage_options: Mapping[str, Any] | None, ttl_s: float) -> None:
        options = resolve_storage_options(store_url, storage_options) or {}
        self.url, self.ttl_s = store_url, ttl_s
        self.fs, self.root = fsspec.core.url_to_fs(store_url, **options)
        self._holders: dict[str, Holder | None] = {}  # an entry's body never changes: read each once

    def holder(self, entry: str) -> Holder | None:
        """Who wrote `entry` (None if it does not say, or it is gone)."""
        if entry not in self._holders:
            try:
                self._holders[entry] = Holder.of_entry(self.fs.cat_file(entry))
            except FileNotFoundError:
                return None
        return self._holders[entry]

    def _folder(self, chunk: int) -> str:
        return f"{self.root.rstrip('/')}/{LEASES_FOLDER}/{chunk}"

    def live_entries(self, chunk: int, mine: str = "") -> list[str]:
        """The entries of a chunk's lease that are unexpired and not of a dead process, read fresh
        (`mine`: this caller's own entry, whose holder is known)."""
        folder, now = self._folder(chunk), time.time()
        self.fs.invalidate_cache(folder)
        try:
            names = (self.fs.ls(folder, detail=False, refresh=True) if _refreshes(self.fs)
                     else self.fs.ls(folder, detail=False))
        except FileNotFoundError:
            return []
        live = []
        for name in names:
            expiry = _expiry(name)
            if expiry is None:
                continue
            if expiry > now and (name == mine or not self._dead_holder(name)):
                live.append(name)
            elif expiry > now or expiry < now - self.ttl_s:
                _remove(self.fs, name)  # its holder died, or it expired long ago: tidied by whoever looks
        return live

    def held_by(self, chunk: int) -> str:
        """Who holds the chunk's lease now, in words ("" if nobody): told to a writer that waits for it."""
        live = self.live_entries(chunk)
        expires = max((_expiry(entry) or 0.0 for entry in live), default=0.0)
        holders = sorted({str(self.holder(entry) or "a writer that does not say where") for entry in live})
        return f"{', '.join(holders)}, until {time.strftime('%H:%M:%S', time.localtime(expires))}" if live else ""

    def _dead_holder(self, entry: str) -> bool:
        holder = self.holder(entry)
        return holder is not None and holder.known_dead()

    def clear_dead(self) -> int:
        """Remove every entry of this store whose holder died (after its workers were ended); how many were left."""
        with storage_errors(self.url, "tidy the leases of ended writers"):
            folder = f"{self.root.rstrip('/')}/{LEASES_FOLDER}"
            try:
                chunks = self.fs.ls(folder, detail=False)
            except FileNotFoundError:
                return 0
            left = 0
            for path in chunks:
                chunk = path.rstrip("/").rsplit("/", 1)[-1]
                if chunk.isdigit():
                    left += len(self.live_entries(int(chunk)))
                    _remove_folder(self.fs, self._folder(int(chunk)))
            _remove_folder(self.fs, folder)
            return left

    def try_acquire(self, chunk: int) -> Lease | None:
        """The chunk's lease if no other live writer holds or is taking it; None otherwise."""
        with storage_errors(self.url, "take a lease on a batch"):
            lease = Lease(self.fs, self._folder(chunk), uuid.uuid4().hex, self.ttl_s)
            self._announce(lease)
            if self.live_entries(chunk, mine=lease.entry) != [lease.entry]:
                _remove(self.fs, lease.entry)
                return None
            lease._renewer = threading.Thread(target=self._renew, args=(lease,), daemon=True,
                                              name=f"w2w-lease-{chunk}")
            lease._renewer.start()
            with _HELD_LOCK:
                _HELD[lease.token] = lease
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
                           "pid": os.getpid(), "machine": this_machine(),
                           "started": _process_started(os.getpid())}).encode()
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


def _remove_folder(fs: Any, folder: str) -> None:
    """Local folders only (object stores have none to remove); kept if another entry arrived meanwhile."""
    try:
        fs.rmdir(folder)
    except Exception:  # noqa: BLE001 - not empty, gone, or not a folder store
        pass


def _remove(fs: Any, path: str) -> None:
    if not path:
        return
    try:
        fs.rm_file(path)
    except FileNotFoundError:
        pass
