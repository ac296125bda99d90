"""`w2w base ...`: the embedded tiny base model."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from cli.errors import fail

app = typer.Typer(help="The embedded tiny base model.", no_args_is_help=True)


@app.command("train")
def train(out: Path = typer.Option(Path("w2w-out/tiny_sd"), help="output folder; the shipped model is replaced "
                                   "only if you name its folder (w2w_core/assets/tiny_sd) here")) -> None:
    """Retrain the embedded tiny diffusion model from its fixed config and seed, into a new folder."""
    if out.exists() and any(out.iterdir()) and not (out / "model_index.json").is_file():
        fail(f"--out {out} is a folder that holds something other than a model; give an empty or new folder")
    from w2w_core.base_training import BaseTrainConfig, train_base_model

    typer.echo(json.dumps(train_base_model(BaseTrainConfig(), out), indent=2))
