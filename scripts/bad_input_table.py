"""Print docs/reliability.md's table of bad input: every case of tests/cli/bad_inputs.py, run as a user runs it.

    .venv/bin/python scripts/bad_input_table.py > /tmp/table.md
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from tests.cli.bad_inputs import CASES, error_lines, prepare, run_case
    from w2w_core import world
    from w2w_core.base_model import TinyModelConfig, build_tiny_pipeline

    with tempfile.TemporaryDirectory() as scratch:
        model = Path(scratch) / "tiny_sd"
        build_tiny_pipeline(TinyModelConfig(), world.PROMPT_WORDS, seed=0).save_pretrained(model)
        paths = prepare(Path(scratch) / "inputs", model)
        rows, clean = [], 0
        for i, case in enumerate(CASES):
            out = Path(scratch) / f"out-{i}"
            result = run_case(case, paths, out)
            lines = error_lines(result)
            ok = (result.returncode == 2 and len(lines) == 1 and case.expect in lines[0]
                  and "Traceback" not in result.stdout + result.stderr and not (out.exists() and any(out.iterdir())))
            clean += ok
            shown = lines[0].removeprefix("error: ").replace("|", "\\|") if lines else ""
            verdict = "yes" if ok else "NO"
            rows.append(f"| `w2w {case.command}` | {case.problem} | {shown} | {result.returncode} | {verdict} |")
            print(f"{i + 1}/{len(CASES)}", file=sys.stderr, flush=True)
    print(f"{len(CASES)} malformed inputs across {len({c.command for c in CASES})} commands; {clean} of them gave one "
          "line, exit status 2, no traceback and nothing written.\n")
    print("| command | malformed input | what the user saw (one line, after `error: `) | exit | clean |")
    print("|---|---|---|---:|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
