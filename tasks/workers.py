"""Local worker processes of the dataset flow: how each starts, and how they end with their flow.

A worker gets one torch thread (fastest on shared cores, measured), the flow's
Prefect API, and a watchdog that ends it when the flow's process dies, even by
kill -9. When the flow itself is interrupted (SIGTERM, Ctrl-C), the workers are
ended at once instead of finishing their batches: rows they had not written stay
pending, and the next run trains them.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

SPAWNED = b"multiprocessing.spawn"  # the command line of every worker the process pool starts


def init_worker(threads: int, api_url: str | None = None, poll_s: float = 0.5) -> None:
    """Start a worker: `threads` torch threads, the flow's API (else it would start a temporary server of its
    own), and the watchdog on the process that started it."""
    import torch

    torch.set_num_threads(threads)
    if api_url:
        os.environ.setdefault("PREFECT_API_URL", api_url)
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)  # the flow that owned this worker is gone: nobody will collect its batch

    threading.Thread(target=watch, name="w2w-parent-watchdog", daemon=True).start()


def end_worker_processes() -> int:
    """Kill this process's pool workers (children started by multiprocessing's spawn); how many."""
    me, ended = os.getpid(), 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) != me:
                continue
            if SPAWNED in (stat.parent / "cmdline").read_bytes():
                os.kill(int(stat.parent.name), signal.SIGKILL)
                ended += 1
        except (OSError, ValueError, IndexError):
            continue
    return ended
