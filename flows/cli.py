"""The `w2w` command line: each command is a thin shell around one w2w function or flow."""
from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from flows import cli_dataset, cli_s3

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

app = typer.Typer(help="weights2weights: identity LoRAs as data.", no_args_is_help=True, pretty_exceptions_enable=False)
base_app = typer.Typer(help="The embedded tiny base model.", no_args_is_help=True)
app.add_typer(base_app, name="base")
app.add_typer(cli_s3.app, name="s3", help="A local S3-compatible server and credential checks.")
app.add_typer(cli_dataset.app, name="dataset")


def _fail(error: Exception) -> None:
    typer.secho(f"error: {error}", fg="red", err=True)
    raise typer.Exit(2)


@app.command()
def finetune(
    seed: int = typer.Option(None, help="identity seed of the embedded world"),
    images: list[Path] = typer.Option(None, "--image", help="image file(s) of one identity, instead of --seed"),
    out: Path = typer.Option(Path("w2w-out/finetune"), help="folder for lora.safetensors and theta.npy"),
    model: Path = typer.Option(None, help="diffusers model folder (default: the embedded tiny model)"),
    steps: int = typer.Option(300, help="optimisation steps"),
    prior_weight: float = typer.Option(0.0, help="prior-preservation weight (0: off)"),
) -> None:
    """Fine-tune one identity's rank-1 LoRA; write the LoRA file and its weight vector."""
    from w2w_core.errors import W2WError
    from flows.run import finetune_one

    try:
        summary = finetune_one(seed, images, out, model, steps, prior_weight)
    except W2WError as error:
        _fail(error)
    typer.echo(json.dumps(summary, indent=2))


@app.command()
def generate(
    lora: Path = typer.Argument(None, help="LoRA .safetensors (omit for the base model)"),
    prompt: str = typer.Option("a photo of sks person", help="text prompt"),
    out: Path = typer.Option(Path("w2w-out/generate.png"), help="PNG grid to write"),
    n: int = typer.Option(8, help="number of images"),
    seed: int = typer.Option(0, help="sampling seed"),
    model: Path = typer.Option(None, help="diffusers model folder (default: the embedded tiny model)"),
) -> None:
    """Generate a PNG grid from the base model, with a LoRA file applied if given."""
    from w2w_core.errors import W2WError
    from flows.run import generate_grid

    try:
        path = generate_grid(lora, prompt, out, n, seed, model)
    except W2WError as error:
        _fail(error)
    typer.echo(f"wrote {path}")


@app.command()
def run(
    out: Path = typer.Option(Path("w2w-out"), help="folder for the report"),
    n_identities: int = typer.Option(4, help="identities to fine-tune"),
    steps: int = typer.Option(300, help="fine-tune steps per identity"),
) -> None:
    """The main job on the embedded default: fine-tune identities, generate, write a report picture."""
    from flows.run import run_default

    report = run_default(out, n_identities, steps)
    typer.echo(f"wrote {report}")


@base_app.command("train")
def base_train(out: Path = typer.Option(None, help="output folder (default: the packaged model)")) -> None:
    """Retrain the embedded tiny diffusion model from its fixed config and seed."""
    from w2w_core.base_model import DEFAULT_MODEL_DIR
    from w2w_core.base_training import BaseTrainConfig, train_base_model

    typer.echo(json.dumps(train_base_model(BaseTrainConfig(), out or DEFAULT_MODEL_DIR), indent=2))


if __name__ == "__main__":
    app()
