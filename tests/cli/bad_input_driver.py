"""Many bad-input cases in ONE fresh process, each as if it were its own `w2w` process.

A fresh Python per case costs about 4 s here (78 cases: minutes of CI). This driver
is started once, with the heavy-library blocker first on its path (as
benchmarks.bad_inputs.run_case does per case), reads the cases as JSON on stdin and
runs each through `cli.main.main` with that case's argv, environment and working
folder, capturing what it prints and its exit status. The blocker stays in force for
every case: a check that needs torch, diffusers, transformers or Prefect fails here
as it would in a fresh process. tests/cli/test_bad_input.py still runs a few cases
in fresh processes of their own.

    python -m tests.cli.bad_input_driver < cases.json > results.json
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import traceback
from pathlib import Path


def run_in_one_process(cases: list, paths: dict[str, str], outs: list[Path]) -> list[subprocess.CompletedProcess]:
    """Each case with its own output folder (`outs[i]`, its parent the working folder), all in one process
    without the heavy libraries; what each printed and its exit status, as run_case gives them."""
    from benchmarks.bad_inputs import run_case

    recorded: list[dict] = []

    def record(command: list[str], cwd: Path, env: dict[str, str], **_: object) -> subprocess.CompletedProcess:
        recorded.append({"argv": command[3:], "cwd": str(cwd), "env": env})
        return subprocess.CompletedProcess(command, 0, "", "")

    with _replaced(subprocess, "run", record):  # run_case's own environment and arguments, not a copy of them
        for case, out in zip(cases, outs):
            run_case(case, paths, out, without_heavy=True)
    driver_env = dict(recorded[0]["env"]) if recorded else dict(os.environ)
    done = subprocess.run([sys.executable, "-m", "tests.cli.bad_input_driver"], input=json.dumps(recorded),
                          env=driver_env, cwd=str(outs[0].parent), capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"the bad-input driver failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    results = json.loads(done.stdout)
    return [subprocess.CompletedProcess(r["argv"], r["returncode"], r["stdout"], r["stderr"]) for r in results]


@contextlib.contextmanager
def _replaced(owner: object, name: str, value: object):
    before = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, before)


def _run_one(argv: list[str], cwd: str, env: dict[str, str]) -> dict:
    """One case: the process's environment, folder and argv set as the case's, `w2w` run, its output captured."""
    from cli.main import main

    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.argv = ["w2w", *argv]
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main()
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        except BaseException:  # noqa: BLE001 - a crash is a result here: the traceback is what the test reports
            traceback.print_exc()
            code = 1
    return {"argv": argv, "returncode": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


def _main() -> None:
    cases = json.loads(sys.stdin.read())
    results = [_run_one(c["argv"], c["cwd"], c["env"]) for c in cases]
    sys.__stdout__.write(json.dumps(results))


if __name__ == "__main__":
    _main()
