"""Test-wide settings.

Torch on two shared cores: passive OpenMP waiting and few threads, otherwise
contention slows training steps 10-100x (measured on this project's machines).
"""
import os

import pytest
from threadpoolctl import threadpool_limits

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MKL_NUM_THREADS", "2")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_OFFLINE", "1")

pytest_plugins = ["tests.s3_fixture"]


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """One BLAS thread: spinning OpenBLAS threads slow small products 10-100x on 2 shared cores."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield
