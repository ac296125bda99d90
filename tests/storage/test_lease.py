"""Chunk leases: never two holders, expired holders give way, renewals keep a working holder's lease."""
from __future__ import annotations

import threading
import time

import pytest

from storage.lease import ChunkLeases


def _contend(leases: ChunkLeases, rounds: int, contenders: int = 4, hold_s: float = 0.1) -> tuple[int, int]:
    """Every round, `contenders` threads start at once and each waits for the lease (random backoff), holds it
    for `hold_s` and releases it; (most holders at one time, holds in all)."""
    most, holds = 0, 0
    for r in range(rounds):
        start, lock, holding = threading.Barrier(contenders), threading.Lock(), [0]

        def attempt() -> None:
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

        threads = [threading.Thread(target=attempt, daemon=True) for _ in range(contenders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)  # a contender stuck in a store call fails the test instead of hanging it
        assert not any(t.is_alive() for t in threads), f"round {r}: a contender is still waiting after 120 s"
    return most, holds


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
