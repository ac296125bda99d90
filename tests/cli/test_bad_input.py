"""Every malformed input of tests/cli/bad_inputs.py, as a user meets it: one line naming the problem, exit
status 2, no traceback, nothing written where the output would have gone; and, unless only a loaded model can
tell, said before torch, diffusers or Prefect is imported (issue 25: the error within 2 s, not after 12-18 s).

The cases run in one process without the heavy libraries (tests/cli/bad_input_driver.py: one fresh Python
per case cost minutes), and a few of them again in fresh processes of their own, as a user types them: the
same line and exit status from a real `w2w` process."""
from __future__ import annotations

import pytest

from tests.cli.bad_input_driver import run_in_one_process
from tests.cli.bad_inputs import CASES, error_lines, prepare, run_case

pytestmark = pytest.mark.integration  # builds small stores; its fresh-process cases start `w2w` for real

IN_ONE_PROCESS = [c for c in CASES if not c.needs_model]
FRESH_PROCESS = [c for c in CASES if c.needs_model] + [  # one per kind of check: arguments, files, S3, config
    next(c for c in CASES if c.command == command) for command in ("finetune", "edit", "s3 check", "space fit")]


@pytest.fixture(scope="module")
def paths(tmp_path_factory, tiny_model_dir):
    return prepare(tmp_path_factory.mktemp("inputs"), tiny_model_dir)


@pytest.fixture(scope="module")
def results(paths, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("cases")
    outs = [root / f"case-{i}" / "out" for i in range(len(IN_ONE_PROCESS))]
    for out in outs:
        out.parent.mkdir()
    return dict(zip(IN_ONE_PROCESS, zip(run_in_one_process(IN_ONE_PROCESS, paths, outs), outs)))


def _assert_one_clear_line(case, result, out) -> None:
    lines = error_lines(result)
    assert result.returncode == 2, (result.returncode, lines[-5:])
    assert len(lines) == 1 and lines[0].startswith("error: ") and case.expect in lines[0], lines
    assert "Traceback" not in result.stdout + result.stderr
    assert not out.exists() or not any(out.iterdir()), "something was written"


@pytest.mark.parametrize("case", IN_ONE_PROCESS, ids=[f"{c.command}: {c.problem}" for c in IN_ONE_PROCESS])
def test_bad_input_is_one_clear_line_before_any_heavy_library(case, results):
    result, out = results[case]
    _assert_one_clear_line(case, result, out)


@pytest.mark.parametrize("case", FRESH_PROCESS, ids=[f"{c.command}: {c.problem}" for c in FRESH_PROCESS])
def test_bad_input_in_a_fresh_w2w_process(case, paths, tmp_path):
    out = tmp_path / "out"
    _assert_one_clear_line(case, run_case(case, paths, out, without_heavy=not case.needs_model), out)


def test_the_one_process_driver_sees_what_a_fresh_process_sees(paths, tmp_path):
    """The driver is only a faster way to run the cases: for a case that passes and for a command that is
    fine, it reports the same exit status and line as a fresh `w2w` process."""
    case = IN_ONE_PROCESS[0]
    outs = [tmp_path / "a" / "out", tmp_path / "b" / "out"]
    for out in outs:
        out.parent.mkdir()
    driven = run_in_one_process([case, case], paths, outs)
    fresh = run_case(case, paths, tmp_path / "c" / "out", without_heavy=True)
    assert [r.returncode for r in driven] == [fresh.returncode] * 2
    assert error_lines(driven[0]) == error_lines(driven[1])
    assert [line.replace(str(tmp_path / "c"), "") for line in error_lines(fresh)] == \
        [line.replace(str(tmp_path / "a"), "") for line in error_lines(driven[0])]
