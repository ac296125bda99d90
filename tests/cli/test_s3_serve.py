"""`w2w s3 serve` ends its rclone server with itself, on SIGTERM (a service manager, `kill`) as on Ctrl-C."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from storage.s3 import free_port
from tests.flows.dataset_support import REPO

pytestmark = pytest.mark.integration


def _port_is_free(port: int) -> bool:
    """Nothing listens on `port`: a new server could bind it (as rclone does, past the probes' TIME_WAIT)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_server_and_frees_its_port(tmp_path, sig):
    port, credentials = free_port(), tmp_path / "s3.env"
    command = [sys.executable, "-c", "from cli.main import main; main()", "s3", "serve", "--dir",
               str(tmp_path / "data"), "--port", str(port), "--new-credentials", str(credentials)]
    proc = subprocess.Popen(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    rclone: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 60
        while not credentials.exists():  # written once the server answers
            assert proc.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        rclone += [child for child in psutil.Process(proc.pid).children(recursive=True)
                  if "rclone" in child.name()]
        assert len(rclone) == 1 and not _port_is_free(port)
        proc.send_signal(sig)
        output, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "stopping the S3 server" in output, output
        psutil.wait_procs(rclone, timeout=10)
        assert not rclone[0].is_running() or rclone[0].status() == psutil.STATUS_ZOMBIE
        assert _port_is_free(port)
    finally:
        proc.kill()
        for server in rclone:  # only what this test started, by pid
            if server.is_running():
                server.kill()
