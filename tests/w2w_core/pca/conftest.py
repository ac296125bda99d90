"""One BLAS thread for the PCA tests: OpenBLAS threads spin while waiting, and on the shared
two-core machines that slows these small products 10-100x (measured: 19 s -> 0.2 s)."""
import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(limits=1, user_api="blas"):
        yield
