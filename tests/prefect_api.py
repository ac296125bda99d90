"""A temporary Prefect API for tests (conftest's session fixture, and modules that need their own)."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def own_prefect_api(startup_timeout_s: float = 120) -> Iterator[str]:
    """A temporary Prefect server for as long as the block runs; yields its API URL."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=startup_timeout_s):
        yield PREFECT_API_URL.value()
