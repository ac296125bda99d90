"""Every malformed input of tests/cli/bad_inputs.py, run as a user runs it: one line naming the problem, exit
status 2, no traceback, nothing written where the output would have gone; and, unless only a loaded model can
tell, said before torch, diffusers or Prefect is imported (issue 25: the error within 2 s, not after 12-18 s)."""
from __future__ import annotations

import pytest

from tests.cli.bad_inputs import CASES, error_lines, prepare, run_case

pytestmark = pytest.mark.integration  # one process per case


@pytest.fixture(scope="module")
def paths(tmp_path_factory, tiny_model_dir):
    return prepare(tmp_path_factory.mktemp("inputs"), tiny_model_dir)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.command}: {c.problem}" for c in CASES])
def test_bad_input_is_one_clear_line(case, paths, tmp_path):
    out = tmp_path / "out"
    result = run_case(case, paths, out, without_heavy=not case.needs_model)
    lines = error_lines(result)
    assert result.returncode == 2, (result.returncode, lines[-5:])
    assert len(lines) == 1 and lines[0].startswith("error: ") and case.expect in lines[0], lines
    assert "Traceback" not in result.stdout + result.stderr
    assert not out.exists() or not any(out.iterdir()), "something was written"
