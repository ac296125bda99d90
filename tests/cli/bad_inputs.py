"""Malformed input for every `w2w` command, and what each must say: one line naming the problem, exit 2.

The table and its helpers live in benchmarks/bad_inputs.py, where benchmarks/bad_input_latency.py (which may not
import tests/) times each case; tests/cli/test_bad_input.py runs them all through this module.
"""
from benchmarks.bad_inputs import (  # noqa: F401 - the table and its helpers, as the tests import them
    CASES,
    HEAVY,
    REPO,
    UNREACHABLE_S3,
    Case,
    error_lines,
    listening_endpoint,
    png_declaring,
    prepare,
    run_case,
)
