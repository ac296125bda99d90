"""A real Prefect server for the deployment tests: its environment, the CLI, start and stop
(benchmarks/prefect_server.py, which the orchestration benchmark shares), and the deployment's workers."""
from __future__ import annotations

import json
import subprocess
import sys

from benchmarks.prefect_server import prefect, prefect_env, prefect_server  # noqa: F401 - the tests import them here
from deployments.dataset import WORK_POOL
from tests.flows.dataset_support import REPO


def start_worker(env: dict[str, str], run_once: bool = True) -> subprocess.Popen:
    """A process worker of the deployment's pool, in its own process group (so a test can kill it whole)."""
    return subprocess.Popen([sys.executable, "-m", "prefect", "worker", "start", "--pool", WORK_POOL,
                             *(["--run-once"] if run_once else [])],
                            env={**env, "PREFECT_LOGGING_LEVEL": "INFO"}, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def run_state(run_id: str, env: dict[str, str]) -> str:
    """A flow run's state type (COMPLETED, FAILED, CRASHED, ...), read from the server."""
    return json.loads(prefect(["flow-run", "inspect", run_id, "-o", "json"], env))["state"]["type"]
