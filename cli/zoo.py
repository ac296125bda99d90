"""`w2w zoo build`: grow the embedded model zoo with its fixed recipe (resumable; appends to zoo.json)."""
from __future__ import annotations

import json
import shlex
import sys
from dataclasses import replace
from pathlib import Path

import typer

from cli.errors import failing_cleanly
from tasks.config import ZOO_DIR, FanOutConfig, ZooConfig

app = typer.Typer(help="The embedded model zoo: world identities' LoRAs shipped with w2w.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """The embedded model zoo."""


@app.command()
def build(
    n: int = typer.Option(ZooConfig.n_identities, "--n",
                          help="Identities the zoo should hold (train identities 0..n-1)."),
    out: Path = typer.Option(ZOO_DIR, help="Zoo store folder (default: the one shipped in the package)."),
    workers: int = typer.Option(FanOutConfig.workers, help="Local worker processes (default: one per CPU core)."),
    threads_per_worker: int = typer.Option(FanOutConfig.threads_per_worker, help="Torch threads per worker."),
    calibrate: bool = typer.Option(True, help="measure the directions' strength 1 with the probe (minutes of "
                                   "generation; --no-calibrate keeps the raw unit, for a quick try)"),
) -> None:
    """Train the zoo's next identities with its recipe, then fit its space and directions; rerun to continue
    or to grow it."""
    with failing_cleanly():
        config = replace(ZooConfig(), n_identities=n)
        config = config if calibrate else replace(config, calibration=None)
        fan_out = FanOutConfig(workers=workers, threads_per_worker=threads_per_worker)
        from cli.dataset import what_the_build_left
        from cli.processes import end_children_with_this_process

        end_children_with_this_process(what_the_build_left)  # SIGTERM / Ctrl-C end all it starts, say what is left
        from cli.quiet import quiet_prefect_tracebacks
        from flows.zoo import build_zoo

        quiet_prefect_tracebacks()

        record = build_zoo(str(out), config, fan_out, "w2w " + shlex.join(sys.argv[1:]))
    typer.echo(json.dumps(record["runs"][-1], indent=2))
