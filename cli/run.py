"""`w2w run`: the main job on the embedded default, through the same flows a team runs."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from cli.errors import failing_cleanly
from tasks.config import DatasetConfig, RunConfig
from w2w_core.finetune.config import FinetuneConfig

SHOWN = ("counts", "k", "explained_variance", "fidelity_rank_percentile", "report")  # printed at the end


def run(
    out: Path = typer.Option(Path("w2w-out"), help="folder for the store, the space and the report"),
    n_identities: int = typer.Option(RunConfig.n_identities, help="identities to fine-tune into the weight store"),
    batch_size: int = typer.Option(DatasetConfig.batch_size, help="identities per Prefect task (one store chunk)"),
    k: int = typer.Option(RunConfig.k, help="components of the w2w space (at most n-identities - 1)"),
    steps: int = typer.Option(FinetuneConfig.steps, help="fine-tune steps per identity"),
) -> None:
    """The main job on the embedded default: dataset -> w2w space -> samples, in report.png."""
    with failing_cleanly():
        dataset = DatasetConfig(batch_size=batch_size).with_steps(steps)
        config = RunConfig(n_identities=n_identities, k=k, dataset=dataset)
        from flows.end_to_end import w2w_run

        summary = w2w_run(str(out), config)
    typer.echo(json.dumps({key: summary[key] for key in SHOWN}, indent=2))

