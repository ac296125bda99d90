"""`w2w run`: the main job on the embedded default, through the same flows a team runs, ending in report.html."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from cli.errors import failing_cleanly
from tasks.config import RunConfig

SHOWN = ("header", "report")  # printed at the end


def run(
    out: Path = typer.Option(Path("w2w-out"), help="folder for the stores, the space, the models and report.html"),
    n_identities: int = typer.Option(RunConfig.n_identities, help="identities this run fine-tunes, beside the zoo's"),
    zoo: bool = typer.Option(RunConfig.use_zoo, help="start from the shipped zoo of world identities"),
    heldout: int = typer.Option(RunConfig.n_heldout, help="held-out identities trained to be edited and inverted"),
    k: int = typer.Option(RunConfig.k, help="components of the w2w space (default: min(1000, models - 1))"),
) -> None:
    """The whole idea on the embedded default: zoo + new identities -> w2w space -> samples, edits, inversions."""
    with failing_cleanly():
        config = RunConfig(n_identities=n_identities, use_zoo=zoo, n_heldout=heldout, k=k)
        from cli.dataset import what_the_build_left
        from cli.processes import end_children_with_this_process

        end_children_with_this_process(what_the_build_left)  # SIGTERM / Ctrl-C end all it starts, say what is left
        from cli.quiet import quiet_prefect_tracebacks
        from flows.end_to_end import w2w_run

        quiet_prefect_tracebacks()

        numbers = w2w_run(str(out), config)
    typer.echo(json.dumps({key: numbers[key] for key in SHOWN}, indent=2))
