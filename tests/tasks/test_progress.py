"""What a user watching `w2w dataset build` sees: the progress line moves while a batch trains in a worker
process (at least every 10 s, with the time left), and Prefect's chatter stays off the console."""
from __future__ import annotations

import io
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from storage.format import DONE, PENDING
from storage.progress import BatchProgress, ProgressWriter, batches_in_training
from tasks.progress import ClearsProgressLine, ConsoleLine, _Rate, progress_line
from tests.flows.dataset_support import REPO

MAX_SILENCE_S = 10.0  # the bar: a change on the console at least this often while training
STARTUP_S = 600.0  # the Prefect API and two workers loading the model, on a loaded 2-core machine
WATCHED_S = 40.0  # how long the test watches the batches train (each would take hours)
NOISE = ("Starting temporary server", "prefect.io/docs", "Finished in state", "Beginning flow run", "| INFO",
         "Task run", "Flow run", "ZarrUserWarning", "telemetry", "Telemetry", "BuildBackendWarning")


def _timed_lines(stream, lines: list[tuple[float, str]]) -> None:
    """Every line (a terminal's in-place redraws too) with the time it arrived."""
    for raw in iter(stream.readline, b""):
        for part in re.split(r"[\r\n]", raw.decode(errors="replace")):
            if part.strip():
                lines.append((time.monotonic(), part.strip()))


def _user_env() -> dict[str, str]:
    """A new user's environment: no Prefect API or logging settings, no DO_NOT_TRACK (the CLI must quiet
    Prefect itself), one torch thread."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DO_NOT_TRACK"))}
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return env


def _training_steps(line: str) -> int | None:
    """The steps done that a progress line shows ('... training rows 0, 1: 362/200,000 identity-steps ...')."""
    found = re.search(r"training rows [^:]*: (?:step )?([\d,]+)/", line)
    return int(found.group(1).replace(",", "")) if found else None


@pytest.mark.integration
@pytest.mark.slow
def test_build_shows_training_progress_at_least_every_10_s_and_no_prefect_noise(tmp_path, tiny_model_dir):
    """Two batches of one identity, each in its own worker process, with more steps than any machine trains
    in the test's 40 s: the steps on the console must advance every 10 s (today's bar moved only when a
    batch committed). Then Ctrl-C; nothing of Prefect's own chatter may have been printed."""
    url = str(tmp_path / "w.zarr")
    command = [sys.executable, "-c", "from cli.main import main; main()", "dataset", "build", url, "--n", "2",
               "--batch-size", "1", "--steps", "1000000", "--images", "4", "--model", str(tiny_model_dir),
               "--workers", "2"]
    proc = subprocess.Popen(command, env=_user_env(), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(target=_timed_lines, args=(proc.stderr, lines), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + STARTUP_S
        while not [t for t, line in lines if "training rows" in line]:
            assert proc.poll() is None and time.monotonic() < deadline, \
                "no step progress was shown:\n" + "\n".join(line for _, line in lines)
            time.sleep(0.5)
        time.sleep(WATCHED_S)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    reader.join(timeout=10)
    text = "\n".join(line for _, line in lines)
    steps = [(t, _training_steps(line)) for t, line in lines if _training_steps(line) is not None]
    start, end = steps[0][0], steps[0][0] + WATCHED_S
    advances = [t for (t, n), (_, before) in zip(steps[1:], steps) if n > before and t <= end]
    silences = np.diff([start, *advances, end])
    assert silences.max() <= MAX_SILENCE_S, f"{silences.max():.1f} s without new steps on the console:\n{text}"
    assert any(re.search(r"\d+ (s|min \d+ s|h \d+ min) left", line) for _, line in lines), text
    noise = [line for _, line in lines if any(word in line for word in NOISE)]
    assert noise == [], "\n".join(noise)


def test_a_batch_in_training_is_visible_in_the_store_until_it_clears(tmp_path):
    url = str(tmp_path / "w.zarr")
    writer = ProgressWriter(url, None, chunk=3, rows=[24, 25, 26, 27], every_s=0.0)
    writer.step(40, 400)
    [seen] = batches_in_training(url)
    assert (seen.chunk, seen.rows, seen.done, seen.total) == (3, (24, 25, 26, 27), 40, 400)
    writer.clear()
    assert batches_in_training(url) == [] and not (tmp_path / "w.zarr" / "progress").exists()


def test_a_writer_that_died_long_ago_is_not_shown(tmp_path):
    url = str(tmp_path / "w.zarr")
    ProgressWriter(url, None, chunk=0, rows=[0, 1], every_s=0.0).step(5, 10)
    assert batches_in_training(url, stale_s=60) != []
    assert batches_in_training(url, stale_s=0.0) == []
    assert not (tmp_path / "w.zarr" / "progress").exists()  # tidied: zarr would warn about the folder


def test_a_writer_killed_on_this_machine_is_not_shown_and_its_object_is_tidied(tmp_path):
    url = str(tmp_path / "w.zarr")
    code = f"from storage.progress import ProgressWriter; ProgressWriter({url!r}, None, 2, [4, 5], 0.0).step(3, 10)"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert (tmp_path / "w.zarr" / "progress" / "2.json").exists()
    assert batches_in_training(url) == []
    assert not (tmp_path / "w.zarr" / "progress").exists()


def test_the_line_counts_steps_and_estimates_the_time_left_from_their_pace():
    status = np.array([DONE] * 2 + [PENDING] * 6)  # 2 of 8 done; rows 2-3 training; 200 steps per identity
    rate = _Rate()
    first = progress_line("identities", status, [BatchProgress(1, (2, 3), 0, 400, 0.0)], rate, now=100.0)
    assert first == "identities 2/8 done | training rows 2-3: step 0/200 (0%) | time left: measuring"
    later = progress_line("identities", status, [BatchProgress(1, (2, 3), 100, 400, 0.0)], rate, now=110.0)
    # 100 identity-steps in 10 s; left: 6 x 200 - 100 = 1,100 identity-steps -> 110 s
    assert later == "identities 2/8 done | training rows 2-3: step 50/200 (25%) | 1 min 50 s left"


def test_a_batch_already_committed_is_not_counted_twice():
    status = np.array([DONE] * 4)
    line = progress_line("identities", status, [BatchProgress(1, (2, 3), 400, 400, 0.0)], _Rate(), now=0.0)
    assert line == "identities 4/4 done"


def test_listing_the_shipped_zoo_prints_no_zarr_warning():
    """zoo.json beside the zoo's arrays is on purpose; every other warning still shows (-W error)."""
    code = ("import storage, zarr; from tasks.config import ZOO_DIR; "
            "print(sorted(zarr.open_group(str(ZOO_DIR), mode='r').keys()))")
    done = subprocess.run([sys.executable, "-W", "error", "-c", code], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0 and "'weights'" in done.stdout, done.stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_a_log_record_clears_the_line_and_prints_on_a_line_of_its_own():
    screen = _Terminal()
    console = ConsoleLine(screen)
    handler = logging.StreamHandler(screen)
    handler.addFilter(ClearsProgressLine(console))
    logger = logging.getLogger("w2w-test-progress")
    logger.addHandler(handler)
    try:
        console.show("identities 0/8 done | training rows 0-7: step 10/200 (5%)")
        logger.warning("batch 1 is held by another writer")
        console.show("identities 0/8 done | training rows 0-7: step 12/200 (6%)")
    finally:
        logger.removeHandler(handler)
    # what a terminal shows: \r returns to the line's start, \033[K erases it
    shown = [line.rsplit("\r", 1)[-1].replace("\033[K", "") for line in screen.getvalue().split("\n")]
    assert shown == ["batch 1 is held by another writer", "identities 0/8 done | training rows 0-7: step 12/200 (6%)"]


def test_off_a_terminal_the_line_is_printed_whole():
    piped = io.StringIO()
    ConsoleLine(piped).show("identities 0/8 done")
    assert piped.getvalue() == "identities 0/8 done\n"
