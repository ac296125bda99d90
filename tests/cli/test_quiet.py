"""Prefect's console: warnings only by default, everything with `w2w --verbose`, in every process a flow starts
(the setting travels in the environment)."""
import os
import subprocess
import sys

import pytest

from tests.flows.dataset_support import REPO

LOG_BOTH = """
import logging, sys
from cli.quiet import set_verbosity
set_verbosity(sys.argv[1] == "verbose")
from prefect.logging.configuration import setup_logging
setup_logging()
logging.getLogger("prefect").info("an info record")
logging.getLogger("prefect").warning("a warning record")
"""


@pytest.mark.parametrize("mode, shown", [("quiet", ["a warning record"]),
                                         ("verbose", ["an info record", "a warning record"])])
def test_prefect_console_shows_warnings_only_unless_verbose(mode, shown):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    done = subprocess.run([sys.executable, "-c", LOG_BOTH, mode], cwd=REPO, capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(REPO)}, timeout=120)
    records = [line.rsplit(" - ", 1)[-1] for line in done.stderr.splitlines() if " | " in line]
    assert records == shown, done.stderr
