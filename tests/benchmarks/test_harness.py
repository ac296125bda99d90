"""The benchmark harness (issue 26): every script runs as `python -m benchmarks.<name>` from the repository root and
answers --help without loading torch, a study's config file sets the same options as the command it stands for,
a flag beside it still wins, and benchmarks/README.md lists every script."""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import pytest

from benchmarks.harness import markdown_table, parse, read_config

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(f"benchmarks.{p.stem}" for p in (REPO / "benchmarks").glob("*.py")
                 if p.stem not in ("__init__", "harness", "bad_inputs", "prefect_server")) + ["benchmarks.gpu.bench"]
CONFIGS = sorted((REPO / "benchmarks" / "configs").glob("*.py"))


@pytest.fixture(autouse=True)
def _environment_kept():
    """`parse` sets a benchmark's environment (quiet Prefect, passive OpenMP): not for the tests after these."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)

HELP_ALL = r"""
import contextlib, io, json, runpy, sys
out = {}
for name in sys.argv[1:]:
    sys.argv = [name, "--help"]
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        try:
            runpy.run_module(name, run_name="__main__", alter_sys=True)
            code = None
        except SystemExit as stop:
            code = stop.code
    out[name] = {"code": code, "usage": text.getvalue().startswith("usage:"), "torch": "torch" in sys.modules}
print(json.dumps(out))
"""


def test_every_script_answers_help_from_the_repository_root_without_loading_torch():
    """As `python -m benchmarks.<name> --help` runs it (runpy, one interpreter for all of them: the GPU script last,
    the only one that imports torch at the top); no PYTHONPATH, so no script relies on a sys.path edit."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", HELP_ALL, *SCRIPTS], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**env, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert list(results) == SCRIPTS and len(SCRIPTS) >= 18
    for name, result in results.items():
        assert result["code"] == 0 and result["usage"], (name, result)
        assert not result["torch"] or name == "benchmarks.gpu.bench", f"{name} --help loaded torch"


def test_python_dash_m_runs_a_script_from_the_repository_root():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.editing", "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 0 and "--config" in proc.stdout, proc.stderr[-2000:]


def test_no_script_edits_sys_path_or_imports_tests():
    for path in sorted((REPO / "benchmarks").rglob("*.py")):
        source = path.read_text()
        assert not re.search(r"sys\.path\.(insert|append)", source), path
        assert not re.search(r"^\s*(from|import) tests\b", source, re.MULTILINE), path


def _script_and_command(config: Path) -> tuple[str, list[str]]:
    """The script a config names in its docstring, and the flags of the command it stands for."""
    doc = config.read_text().split('"""')[1]
    script = re.search(r"python -m benchmarks\.(\w+) --config benchmarks/configs/" + config.name, doc).group(1)
    command = doc.split("the same as")[1].replace("\\\n", " ")
    words = shlex.split(command)
    assert words[:3] == ["python", "-m", f"benchmarks.{script}"], config.name
    return script, words[3:]


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_a_study_config_sets_the_options_of_the_command_it_stands_for(config):
    script, flags = _script_and_command(config)
    arguments = import_module(f"benchmarks.{script}").arguments
    from_config = vars(parse(arguments(), ["--config", str(config)]))
    from_flags = vars(parse(arguments(), flags))
    assert from_config.pop("config") == str(config) and from_flags.pop("config") is None
    assert from_config == from_flags
    assert set(read_config(config, arguments())) <= set(from_flags)


def test_a_flag_beside_a_config_wins_and_an_unknown_name_is_refused(tmp_path, capsys):
    from benchmarks.editing import arguments

    config = tmp_path / "study.py"
    config.write_text('heldout = 24\nm = ["600", "1000"]\nstrengths = "4"\n')
    args = parse(arguments(), ["--config", str(config), "--strengths", "2"])
    assert (args.heldout, args.m, args.strengths, args.method) == (24, "600,1000", "2", "least_squares")
    config.write_text("heldout = 24\nstrenghts = '4'\n")
    with pytest.raises(SystemExit):
        parse(arguments(), ["--config", str(config)])
    assert "strenghts is not an option of this script" in capsys.readouterr().err


def test_markdown_tables_right_align_numbers_and_keep_empty_cells_empty():
    table = markdown_table(["model", "ID score", "note"], [("a", "0.500", ""), ("b", 1, "x")], align="lrl")
    assert table.splitlines() == ["| model | ID score | note |", "|---|---:|---|", "| a | 0.500 | |", "| b | 1 | x |"]


def test_the_readme_lists_every_script_and_config():
    readme = (REPO / "benchmarks" / "README.md").read_text()
    for name in SCRIPTS:
        assert f"benchmarks.{name.removeprefix('benchmarks.')}" in readme or name.replace(".", "/") in readme, name
    for config in CONFIGS:
        assert config.name in readme, config.name
