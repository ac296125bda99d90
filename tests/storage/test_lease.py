"""Chunk leases: never two holders, expired or dead holders give way, renewals keep a working holder's lease."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest

from storage.format import LEASES_FOLDER
from storage.lease import ChunkLeases, _process_started, release_held, this_machine


def _contend(leases: ChunkLeases, rounds: int, contenders: int = 4, hold_s: float = 0.1) -> tuple[int, int]:
    """Every round, `contenders` threads start at once and each waits for the lease (random backoff), holds it
    for `hold_s` and releases it; (most holders at one time, holds in all)."""
    most, holds = 0, 0
    for r in range(rounds):
        start, lock, holding = threading.Barrier(contenders), threading.Lock(), [0]

        def attempt(r: int, start: threading.Barrier, lock: threading.Lock, holding: list[int]) -> None:
            nonlocal most, holds
            start.wait()
            lease = leases.acquire(r, wait_s=60, poll_s=0.2)
            if lease is None:
                return
            with lock:
                holding[0] += 1
                most, holds = max(most, holding[0]), holds + 1
            time.sleep(hold_s)  # long enough that a second holder taken meanwhile would be caught
            with lock:
                holding[0] -= 1
            lease.release()

        threads = [threading.Thread(target=attempt, args=(r, start, lock, holding), daemon=True)
                   for _ in range(contenders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)  # a contender stuck in a store call fails the test instead of hanging it
        assert not any(t.is_alive() for t in threads), f"round {r}: a contender is still waiting after 120 s"
    return most, holds


@pytest.mark.slow  # the fast tier's budget: scripts/test.sh --fast
def test_never_two_holders_locally(tmp_path):
    most, holds = _contend(ChunkLeases(str(tmp_path / "store"), None, ttl_s=60), rounds=20)
    assert most == 1 and holds == 20 * 4  # one at a time, and every contender got its turn


@pytest.mark.integration
def test_never_two_holders_on_the_s3_server(s3_url, s3_env):
    most, holds = _contend(ChunkLeases(s3_url, None, ttl_s=60), rounds=8)
    assert most == 1 and holds == 8 * 4


def test_an_expired_holder_gives_way_and_a_renewed_one_does_not(tmp_path):
    leases = ChunkLeases(str(tmp_path / "store"), None, ttl_s=0.6)
    first = leases.try_acquire(0)
    assert first is not None and leases.try_acquire(0) is None
    time.sleep(1.0)  # past the ttl, but renewed every ttl/3 while held
    assert first.current and leases.try_acquire(0) is None
    first._stop.set()  # the holder dies: no more renewals
    time.sleep(1.0)
    second = leases.try_acquire(0)
    assert second is not None and not first.current
    second.release()
    assert leases.live_entries(0) == []


def test_a_holder_that_stalled_past_its_lease_never_renews_it_back(tmp_path):
    leases = ChunkLeases(str(tmp_path / "store"), None, ttl_s=0.6)
    stalled = leases.try_acquire(0)
    stalled.expires = time.time() - 0.01  # as if the process had been stopped longer than its lease
    time.sleep(0.5)  # two renewal periods: a renewal now could let it write beside a new holder
    assert not stalled.current
    stalled.release()


def _exited_pid() -> int:
    """The pid of a process that has run and been reaped: nobody holds it now (unless reused, which is rare)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _entry_of(leases: ChunkLeases, chunk: int, **holder) -> str:
    """A live lease entry on `chunk` as another writer would leave it, naming the holder `holder` says."""
    folder, expires = f"{leases.root}/{LEASES_FOLDER}/{chunk}", time.time() + leases.ttl_s
    entry = f"{folder}/{expires:.3f}-{uuid.uuid4().hex}.json"
    leases.fs.makedirs(folder, exist_ok=True)
    leases.fs.pipe_file(entry, json.dumps({"token": "t", "expires": expires, **holder}).encode())
    return entry


def _here(pid: int, **changes) -> dict:
    return {"host": socket.gethostname(), "pid": pid, "machine": this_machine(),
            "started": _process_started(pid), **changes}


def test_the_lease_of_a_process_that_exited_here_is_taken_at_once(tmp_path):
    leases = ChunkLeases(str(tmp_path / "store"), None, ttl_s=600)
    dead = _entry_of(leases, 0, **_here(_exited_pid()))
    lease = leases.try_acquire(0)  # at once: no waiting out the 600 s ttl
    assert lease is not None and leases.live_entries(0) == [lease.entry] and not leases.fs.exists(dead)
    lease.release()


def test_a_pid_reused_by_another_process_is_a_dead_holder(tmp_path):
    leases = ChunkLeases(str(tmp_path / "store"), None, ttl_s=600)
    _entry_of(leases, 0, **_here(os.getpid(), started=_process_started(os.getpid()) - 1))
    lease = leases.try_acquire(0)
    assert lease is not None
    lease.release()


@pytest.mark.parametrize("who", ["alive here", "another host", "another pid namespace",
                                 "written before w2w recorded the machine", "unreadable"])
def test_a_live_or_unknown_holder_keeps_its_lease_until_it_expires(tmp_path, who):
    leases = ChunkLeases(str(tmp_path / "store"), None, ttl_s=1.5)
    gone = _exited_pid()
    holder = {"alive here": _here(os.getppid()),  # pytest's parent: alive, and not this process
              "another host": _here(gone, host="gpu-7", machine="gpu-7/other-boot/pid:[1]"),
              "another pid namespace": _here(gone, machine=f"{socket.gethostname()}/boot/pid:[1]"),
              "written before w2w recorded the machine": {"host": socket.gethostname(), "pid": gone},
              "unreadable": {}}[who]
    entry = _entry_of(leases, 0, **holder)
    if who == "unreadable":
        leases.fs.pipe_file(entry, b"")  # as a reader may see a local entry while it is written
    assert leases.try_acquire(0) is None and leases.live_entries(0) == [entry]
    time.sleep(1.6)  # past its expiry: then it is anybody's
    lease = leases.try_acquire(0)
    assert lease is not None
    lease.release()


def test_release_held_releases_every_lease_this_process_holds(tmp_path):
    release_held()  # any an earlier test left held
    leases = ChunkLeases(str(tmp_path / "store"), None, ttl_s=600)
    held = [leases.try_acquire(chunk) for chunk in range(3)]
    assert all(held) and release_held() == 3
    assert [leases.live_entries(chunk) for chunk in range(3)] == [[], [], []]
    assert not any(lease.current for lease in held) and release_held() == 0
    assert not (tmp_path / "store" / LEASES_FOLDER).exists()  # nothing left behind, not even its folder
