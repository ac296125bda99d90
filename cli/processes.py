"""Every process a command starts ends with it: a temporary Prefect server, worker processes, an S3 server.

On SIGTERM or Ctrl-C a long command ends its descendants (SIGTERM, then SIGKILL
after a grace period) before it exits, instead of leaving them running with no
parent. A store is safe to stop at any point: rows not written whole stay pending.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

GRACE_S = 3.0  # how long descendants get to stop on SIGTERM before SIGKILL


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
    end_descendants()
    os._exit(128 + signum)


def end_children_with_this_process() -> None:
    """Install the handler: SIGTERM and SIGINT end this command and everything it started."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _end_with_descendants)
