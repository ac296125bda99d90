"""`w2w edit` and `w2w sample`: identity models edited along attribute directions, and new ones sampled."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from cli.errors import at_least_one, failing_cleanly
from tasks.config import ZOO_DIR, EditConfig, PicturesConfig, SampleConfig
from w2w_core.errors import InputError

STORE_HELP = "weight store whose space and directions are used (default: the embedded zoo)"


def edit(
    model: str = typer.Argument(..., help="a LoRA .safetensors file, a theta .npy, "
                                "or a row (number or identity id) of the store"),
    add: list[str] = typer.Option(None, "--add", help="ATTRIBUTE=STRENGTH, repeatable: one model with all of them "
                                  "(e.g. glasses=1; 1: the calibrated edit "
                                  "that flips the attribute on a typical training model, -1 removes it)"),
    sweep: str = typer.Option(None, help="ATTRIBUTE=S1,S2,...: one model per strength"),
    store: str = typer.Option(str(ZOO_DIR), help=STORE_HELP),
    out: Path = typer.Option(Path("w2w-out/edit"), help="folder for the edited LoRA files and edit.png"),
    format: str = typer.Option(EditConfig.format, help="LoRA file format: diffusers | kohya (A1111, ComfyUI)"),
    delay: int = typer.Option(EditConfig.delay_t,
                              help="delayed injection: the original model until the timestep falls to this (e.g. 700)"),
    n: int = typer.Option(PicturesConfig.images_per_model, help="images per model in edit.png"),
    seed: int = typer.Option(PicturesConfig.seed, help="noise seed of the images"),
    model_dir: Path = typer.Option(None, "--model",
                                   help="diffusers base model folder (default: the one the store was built on)"),
) -> None:
    """Edit an identity model along attribute directions; write the edited LoRA files and a picture."""
    with failing_cleanly():
        from tasks.inputs import check_edit, parse_edits, parse_sweep  # no torch or Prefect: errors come in a second

        edits, swept = parse_edits(add or []), parse_sweep(sweep)
        pictures = PicturesConfig(images_per_model=at_least_one("--n", n), seed=seed)
        config = EditConfig(format=format, delay_t=delay, pictures=pictures)
        inputs = check_edit(model, store, edits, swept, model_dir=model_dir)
        from tasks.editing import edit_checked

        summary = edit_checked(model, inputs, out, edits, swept, config)
    typer.echo(json.dumps(summary, indent=2))


def sample(
    store: str = typer.Argument(str(ZOO_DIR), help=STORE_HELP),
    n: int = typer.Option(SampleConfig.n, "--n", help="new identity models to sample"),
    out: Path = typer.Option(Path("w2w-out/samples"), help="folder for the sampled LoRA files and samples.png"),
    m: int = typer.Option(SampleConfig.m, help="leading components drawn (default: all of the space's)"),
    spread: float = typer.Option(SampleConfig.spread, help="scales the training models' spread (1: as the paper)"),
    seed: int = typer.Option(SampleConfig.seed, help="seed of the sampled coefficients"),
    method: str = typer.Option(SampleConfig.method, help="attributes (default: a training model's attributes, their "
                               "mean coefficients and Gaussian noise; one person per sample, far from the training "
                               "identities, glasses rarer than in training) | gaussian (the paper's: independent "
                               "coefficients; a sample's images need not be one person) | mix (attributes with two "
                               "training models' residuals: keeps the attribute frequencies, close to those models)"),
    contrast: float = typer.Option(SampleConfig.contrast, help="with --method attributes or mix: how far each model's "
                                   "attributes are pushed from the average (default: 3 for attributes, 1 for mix)"),
    mix: int = typer.Option(SampleConfig.mix, help="with --method mix: training models mixed into each sample"),
    model_dir: Path = typer.Option(None, "--model",
                                   help="diffusers base model folder (default: the one the store was built on)"),
) -> None:
    """Sample new identity models from the space; each a LoRA file, shown beside its nearest training identity."""
    with failing_cleanly():
        if spread < 0:
            raise InputError(f"--spread must be >= 0 (1: the training models' spread), got {spread}")
        config = SampleConfig(n=at_least_one("--n", n), m=m if m is None else at_least_one("--m", m), spread=spread,
                              seed=seed, method=method, contrast=contrast, mix=mix)
        from tasks.inputs import check_store

        check_store(store, model_dir=model_dir)  # no space, or no model folder: said before torch or Prefect load
        from tasks.sampling import sample_models

        summary = sample_models(store, out, config, model_dir=model_dir)
    typer.echo(json.dumps(summary, indent=2))
