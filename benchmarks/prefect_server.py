"""A real Prefect server on 127.0.0.1 for the orchestration benchmarks and the deployment tests: its environment,
the `prefect` CLI, start and stop (tests/deployments/prefect_support.py imports these)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.harness import ROOT as REPO
from storage.s3 import free_port


def prefect_env(home: Path) -> dict[str, str]:
    """The environment of a server, the CLI and workers: their own PREFECT_HOME (its SQLite database),
    a free port on 127.0.0.1, no AWS credentials (each test gives them as it means to)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items()  # a w2w command run in this process quiets Prefect's console
           if not k.startswith("AWS_") and k != "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"}
    env.update({"PREFECT_HOME": str(home), "W2W_TEST_PORT": str(port),
                "PREFECT_API_URL": f"http://127.0.0.1:{port}/api", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_CLI_PROMPT": "false", "PREFECT_LOGGING_LEVEL": "WARNING", "PYTHONPATH": str(REPO),
                "OMP_NUM_THREADS": "1"})
    return env


def prefect(args: list[str], env: dict[str, str], timeout: float = 120) -> str:
    proc = subprocess.run([sys.executable, "-m", "prefect", *args], env=env, cwd=REPO, timeout=timeout,
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"prefect {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@contextmanager
def prefect_server(env: dict[str, str], log: Path, timeout: float = 90) -> Iterator[None]:
    """`prefect server start` on 127.0.0.1 in its own process group; killed whole on exit."""
    with log.open("wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                   "--port", env["W2W_TEST_PORT"]], env=env, stdout=out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert server.poll() is None, f"prefect server exited:\n{log.read_text()[-3000:]}"
            try:
                urllib.request.urlopen(env["PREFECT_API_URL"] + "/health", timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"prefect server not up in {timeout} s"
                time.sleep(0.5)
        yield
    finally:
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(server.pid, sig)
                server.wait(wait)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
