"""`w2w base ...`: the embedded tiny base model."""
from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(help="The embedded tiny base model.", no_args_is_help=True)


@app.command("train")
def train(out: Path = typer.Option(None, help="output folder (default: the packaged model)")) -> None:
    """Retrain the embedded tiny diffusion model from its fixed config and seed."""
    from w2w_core.base_model import DEFAULT_MODEL_DIR
    from w2w_core.base_training import BaseTrainConfig, train_base_model

    typer.echo(json.dumps(train_base_model(BaseTrainConfig(), out or DEFAULT_MODEL_DIR), indent=2))
