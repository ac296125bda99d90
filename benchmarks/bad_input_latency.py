"""How long a user waits for the one-line error of each malformed input (issue 25: within 2 s where no model is needed).

Every case of benchmarks/bad_inputs.py (the table tests/cli/test_bad_input.py checks) runs as a
fresh `w2w` process, as a user types it; the wall time from starting the process to its exit is
measured (best of `--repeat`, so another process's burst on a shared machine counts less), and
the CPU time the process used, which is what it would take on an idle core. Prints a Markdown
table for docs/reliability.md: the command, the input, both times, and the one line the user saw.

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.bad_input_latency --repeat 3 > /tmp/latency.md
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bad_inputs import CASES, REPO, error_lines, prepare, run_case
from benchmarks.harness import parse, parser

TARGET_S = 2.0  # the bar: the error within 2 s of starting `w2w ...`


def timed_case(case, paths: dict[str, str], out: Path) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds, the finished process) of one case in a fresh process. The CPU seconds (user +
    system of the process and its children) are what the case costs on an idle core: on a shared machine the
    wall time also holds the time spent waiting for one."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = run_case(case, paths, out)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), result


def help_seconds(repeat: int) -> float:
    """The floor every case stands on: `w2w --help` (Python, Typer and the CLI's own imports), best of `repeat`."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "from cli.main import main; main()", "--help"], env=env,
                       capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return min(times)


def is_clean(case, result, out: Path) -> bool:
    lines = error_lines(result)
    return (result.returncode == 2 and len(lines) == 1 and case.expect in lines[0]
            and "Traceback" not in result.stdout + result.stderr and not (out.exists() and any(out.iterdir())))


def arguments():
    p = parser(__doc__)
    p.add_argument("--repeat", type=int, default=3, help="runs per case; the fastest counts")
    p.add_argument("--only", default="", help="run only the cases whose command starts with this")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parse(arguments(), argv)
    from w2w_core import world
    from w2w_core.base_model import TinyModelConfig, build_tiny_pipeline

    cases = [c for c in CASES if c.command.startswith(args.only)]
    with tempfile.TemporaryDirectory() as scratch:
        model = Path(scratch) / "tiny_sd"
        build_tiny_pipeline(TinyModelConfig(), world.PROMPT_WORDS, seed=0).save_pretrained(model)
        paths = prepare(Path(scratch) / "inputs", model)
        load_before = os.getloadavg()[0]  # the other processes on the machine (prepare's training has ended)
        rows, seconds_all, cpu_all, clean = [], [], [], 0
        for i, case in enumerate(cases):
            runs = [timed_case(case, paths, Path(scratch) / f"out-{i}-{r}") for r in range(args.repeat)]
            seconds, cpu, result = min(runs, key=lambda run: run[0])
            ok = all(is_clean(case, res, Path(scratch) / f"out-{i}-{r}") for r, (_, _, res) in enumerate(runs))
            clean += ok
            seconds_all.append(seconds)
            cpu_all.append(cpu)
            lines = error_lines(result)
            shown = lines[0].removeprefix("error: ").replace("|", "\\|").replace(scratch, "…") if lines else ""
            mark = " (needs the model)" if case.needs_model else ""
            rows.append(f"| `w2w {case.command}` | {case.problem} | {seconds:.2f}{mark} | {cpu:.2f} | {shown} | "
                        f"{result.returncode} | {'yes' if ok else 'NO'} |")
            print(f"{i + 1}/{len(cases)} {seconds:5.2f} s ({cpu:5.2f} s CPU)  w2w {case.command}: {case.problem}",
                  file=sys.stderr, flush=True)
    floor = help_seconds(args.repeat)
    light = [s for s, c in zip(seconds_all, cases) if not c.needs_model]
    light_cpu = [s for s, c in zip(cpu_all, cases) if not c.needs_model]
    print(f"{len(cases)} malformed inputs across {len({c.command for c in cases})} commands; {clean} gave one line, "
          f"exit status 2, no traceback and nothing written. Of the {len(light)} cases that need no model "
          f"(best of {args.repeat} runs each): wall seconds from starting `w2w` to its exit median "
          f"{sorted(light)[len(light) // 2]:.2f}, slowest {max(light):.2f}, {sum(s > TARGET_S for s in light)} over "
          f"{TARGET_S:g} s; CPU seconds median {sorted(light_cpu)[len(light_cpu) // 2]:.2f}, "
          f"slowest {max(light_cpu):.2f}, "
          f"{sum(s > TARGET_S for s in light_cpu)} over {TARGET_S:g} s. `w2w --help` took {floor:.2f} s. Load average "
          f"{load_before:.2f} before the cases, {os.getloadavg()[0]:.2f} after, on {os.cpu_count()} cores.\n")
    print("| command | malformed input | seconds | CPU seconds | what the user saw (one line, after `error: `) | exit "
          "| clean |")
    print("|---|---|---:|---:|---|---:|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
