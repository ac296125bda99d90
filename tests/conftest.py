"""Test-wide settings.

Torch on two shared cores: passive OpenMP waiting and few threads, otherwise
contention slows training steps 10-100x (measured on this project's machines).
"""
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MKL_NUM_THREADS", "2")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_OFFLINE", "1")

# A suite started in the background (`bash scripts/test.sh &` in a script) inherits SIGINT ignored, and so would
# every process a test starts: the tests that Ctrl-C a `w2w` process need Python's own handler there.
signal.signal(signal.SIGINT, signal.default_int_handler)

from tests.prefect_api import own_prefect_api  # noqa: E402 - after the environment above

pytest_plugins = ["tests.s3_fixture"]


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """One BLAS thread: spinning OpenBLAS threads slow small products 10-100x on 2 shared cores."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny pipeline saved in the diffusers folder format: training on it runs the
    same code as on the embedded model, in well under a second per identity at a few steps.
    One per test process (tests only read it)."""
    from w2w_core import world
    from w2w_core.base_model import TinyModelConfig, build_tiny_pipeline

    folder = tmp_path_factory.mktemp("tiny-model") / "tiny_sd"
    build_tiny_pipeline(TinyModelConfig(), world.PROMPT_WORDS, seed=0).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """A temporary Prefect server (SQLite in a temp dir), one per test process: starting one costs seconds
    on a loaded machine. A module that reads the API's runs without filtering them by id starts its own
    (tests/flows/test_dataset_faults.py)."""
    with own_prefect_api() as url:
        yield url


# The longest modules first (seconds measured in CI on 2026-12-08), so that two test processes
# (scripts/test.sh, xdist --dist loadfile) do not end a stage with one of them alone on a long module.
LONGEST_FIRST = (
    "tests/flows/test_run_report.py", "tests/cli/test_readme_commands.py",  # acceptance
    "tests/deployments/test_retry_from_ui.py", "tests/flows/test_dataset_faults.py", "tests/cli/test_signals.py",
    "tests/deployments/test_worker_killed.py", "tests/w2w_core/test_zoo_asset.py",
    "tests/deployments/test_deployment.py", "tests/tasks/test_progress.py", "tests/w2w_core/test_inversion.py",
    "tests/flows/test_end_to_end.py", "tests/w2w_core/test_finetune.py", "tests/flows/test_worker_deaths.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: the rest keep order
