"""`w2w invert`: one image (or several) in, one identity model each out, by inversion into the w2w space."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from cli.errors import failing_cleanly
from tasks.config import ZOO_DIR, EditConfig
from w2w_core.inversion.config import InversionConfig


def invert(
    images: list[Path] = typer.Argument(..., help="image files (PNG, JPEG, any size): one identity model each"),
    store: str = typer.Option(str(ZOO_DIR), help="weight store whose space is used (default: the embedded zoo)"),
    m: int = typer.Option(InversionConfig.m, help="leading components optimised (default: all of the space's)"),
    steps: int = typer.Option(InversionConfig.steps, help="optimisation steps (out-of-distribution images: try 800)"),
    learning_rate: float = typer.Option(InversionConfig.learning_rate, help="Adam step size on the coefficients"),
    clamp: float = typer.Option(InversionConfig.clamp, help="keep each coefficient within this many training stds of its mean"),
    prior_weight: float = typer.Option(InversionConfig.prior_weight, help="prior preservation on base-model class images (0: off)"),
    mask: list[Path] = typer.Option(None, "--mask", help="binary mask PNG per image (white: kept), in the images' order"),
    out: Path = typer.Option(Path("w2w-out/invert"), help="folder for <image>.safetensors and <image>.coefficients.json"),
    format: str = typer.Option(EditConfig.format, help="LoRA file format: diffusers | kohya"),
    model_dir: Path = typer.Option(None, "--model", help="diffusers base model folder (default: the one the store was built on)"),
) -> None:
    """Invert images into the w2w space; each becomes a LoRA file that `w2w edit` and `w2w generate` take."""
    with failing_cleanly():
        config = InversionConfig(m=m, steps=steps, learning_rate=learning_rate, clamp=clamp, prior_weight=prior_weight)
        EditConfig(format=format)  # an unknown format fails here
        from tasks.inversion import invert_images

        summary = invert_images(list(images), store, out, config, list(mask) if mask else None, format,
                                model_dir=model_dir)
    typer.echo(json.dumps(summary, indent=2))
