"""The `w2w` command line: each command is a thin shell around one w2w function or flow."""
from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from flows import cli_dataset, cli_s3, cli_space
from flows.cli_common import fail, finetune_config

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# The temporary Prefect API a local run starts can take a while on a loaded laptop; no telemetry.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

app = typer.Typer(help="weights2weights: identity LoRAs as data.", no_args_is_help=True, pretty_exceptions_enable=False)
base_app = typer.Typer(help="The embedded tiny base model.", no_args_is_help=True)
app.add_typer(base_app, name="base")
app.add_typer(cli_s3.app, name="s3", help="A local S3-compatible server and credential checks.")
app.add_typer(cli_dataset.app, name="dataset")
app.add_typer(cli_space.app, name="space")


@app.command()
def finetune(
    seed: int = typer.Option(None, help="identity seed of the embedded world"),
    images: list[Path] = typer.Option(None, "--image", help="image file(s) of one identity, instead of --seed"),
    out: Path = typer.Option(Path("w2w-out/finetune"), help="folder for lora.safetensors and theta.npy"),
    model: Path = typer.Option(None, help="diffusers model folder (default: the embedded tiny model)"),
    steps: int = typer.Option(None, help="optimisation steps (default: FinetuneConfig's)"),
    prior_weight: float = typer.Option(0.0, help="prior-preservation weight (0: off)"),
) -> None:
    """Fine-tune one identity's rank-1 LoRA; write the LoRA file and its weight vector."""
    from w2w_core.errors import W2WError
    from flows.single_identity import finetune_one

    try:
        summary = finetune_one(seed, images, out, model, finetune_config(steps, prior_weight=prior_weight))
    except W2WError as error:
        fail(error)
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
    from flows.single_identity import generate_grid

    try:
        path = generate_grid(lora, prompt, out, n, seed, model)
    except W2WError as error:
        fail(error)
    typer.echo(f"wrote {path}")


@app.command()
def run(
    out: Path = typer.Option(Path("w2w-out"), help="folder for the store, the space and the report"),
    n_identities: int = typer.Option(16, help="identities to fine-tune into the weight store"),
    batch_size: int = typer.Option(8, help="identities per Prefect task (one store chunk)"),
    k: int = typer.Option(8, help="components of the w2w space"),
    steps: int = typer.Option(None, help="fine-tune steps per identity (default: FinetuneConfig's)"),
) -> None:
    """The main job on the embedded default: dataset -> w2w space -> samples, in report.png."""
    from flows.end_to_end import w2w_run
    from w2w_core.errors import W2WError

    try:
        summary = w2w_run(str(out), n_identities, batch_size, k, steps)
    except W2WError as error:
        fail(error)
    typer.echo(json.dumps({key: summary[key] for key in ("counts", "k", "explained_variance", "fidelity_rank_percentile", "report")}, indent=2))


@base_app.command("train")
def base_train(out: Path = typer.Option(None, help="output folder (default: the packaged model)")) -> None:
    """Retrain the embedded tiny diffusion model from its fixed config and seed."""
    from w2w_core.base_model import DEFAULT_MODEL_DIR
    from w2w_core.base_training import BaseTrainConfig, train_base_model

    typer.echo(json.dumps(train_base_model(BaseTrainConfig(), out or DEFAULT_MODEL_DIR), indent=2))


if __name__ == "__main__":
    app()
