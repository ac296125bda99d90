"""Every process a command starts ends with it: a temporary Prefect server, worker processes, an S3 server.

On SIGTERM or Ctrl-C a long command releases the batch leases it holds, ends its
descendants (SIGTERM, then SIGKILL after a grace period; a worker releases its own
leases first), says in one line what it left, and exits (130 on Ctrl-C), instead
of leaving them running with no parent and its batches held for a lease's ttl. A
store is safe to stop at any point: rows not written whole stay pending.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

GRACE_S = 3.0  # how long descendants get to stop on SIGTERM before SIGKILL
SAY_WAIT_S = 10.0  # how long the line of what was left may take (it reads the store) before a plain one is said

_say_what_was_left: Callable[[], str] | None = None
_ending = threading.Event()  # set once a signal began ending this command: a second one ends it at once


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`, read from /proc (children first, then theirs)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def end_descendants(grace_s: float = GRACE_S) -> None:
    """SIGTERM every descendant, then SIGKILL those still there after `grace_s`."""
    targets = descendants(os.getpid())
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in targets:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_s
        while sig == signal.SIGTERM and time.monotonic() < deadline and any(_alive(p) for p in targets):
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def _end_with_descendants(signum: int, frame: object) -> None:
    if _ending.is_set():
        os._exit(128 + signum)
    _ending.set()
    leases = sys.modules.get("storage.lease")  # not imported yet: this process holds none (no import in a handler)
    if leases is not None:
        leases.release_held()  # batches trained on threads here: their leases go before anything else
    end_descendants()
    if _say_what_was_left is not None:
        _say(_say_what_was_left)
    os._exit(128 + signum)


def _say(what_was_left: Callable[[], str]) -> None:
    """Print `what_was_left()` on a line of its own (a plain line if it fails or takes past SAY_WAIT_S)."""
    said: list[str] = []

    def read() -> None:
        try:
            said.append(what_was_left())
        except Exception:  # noqa: BLE001 - the store unreachable: the plain line is said
            pass

    reading = threading.Thread(target=read, daemon=True, name="w2w-interrupted")
    reading.start()
    reading.join(SAY_WAIT_S)
    start = "\n" if sys.stderr.isatty() else ""  # after a progress bar's line and the terminal's ^C
    print(f"{start}{said[0] if said else 'interrupted; rerun to continue'}", file=sys.stderr, flush=True)


def end_children_with_this_process(say_what_was_left: Callable[[], str] | None = None) -> None:
    """Install the handler: SIGTERM and SIGINT end this command and everything it started, releasing its
    leases, then print `say_what_was_left()` (one line) if given."""
    global _say_what_was_left
    _say_what_was_left = say_what_was_left
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _end_with_descendants)
