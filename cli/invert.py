"""`w2w invert`: one image (or several) in, one identity model each out, by inversion into the w2w space."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from cli.errors import at_least_one, failing_cleanly
from tasks.config import ZOO_DIR, EditConfig, PicturesConfig
from w2w_core.inversion.config import InversionConfig


def invert(
    images: list[Path] = typer.Argument(..., help="image files (PNG, JPEG, any size): one identity model each"),
    store: str = typer.Option(str(ZOO_DIR), help="weight store whose space is used (default: the embedded zoo)"),
    m: int = typer.Option(InversionConfig.m, help="leading components optimised (default: all of the space's)"),
    steps: int = typer.Option(InversionConfig.steps, help="optimisation steps (out-of-distribution images: try 800)"),
    learning_rate: float = typer.Option(InversionConfig.learning_rate, help="Adam step size on the coefficients"),
    clamp: float = typer.Option(InversionConfig.clamp,
                                help="keep each coefficient within this many training stds of its mean"),
    prior_weight: float = typer.Option(InversionConfig.prior_weight,
                                       help="prior preservation on base-model class images (0: off)"),
    mask: list[Path] = typer.Option(None, "--mask",
                                    help="binary mask PNG per image (white: kept), in the images' order"),
    out: Path = typer.Option(Path("w2w-out/invert"), help="folder for <image>.safetensors, <image>.coefficients.json "
                             "and invert.png"),
    format: str = typer.Option(EditConfig.format, help="LoRA file format: diffusers | kohya"),
    n: int = typer.Option(PicturesConfig.images_per_model, "--n", help="images of each inverted model in invert.png"),
    seed: int = typer.Option(PicturesConfig.seed, help="noise seed of those images"),
    model_dir: Path = typer.Option(None, "--model",
                                   help="diffusers base model folder (default: the one the store was built on)"),
) -> None:
    """Invert images into the w2w space; each becomes a LoRA file that `w2w edit` and `w2w generate` take, shown
    in invert.png beside its input."""
    with failing_cleanly():
        config = InversionConfig(m=m, steps=steps, learning_rate=learning_rate, clamp=clamp, prior_weight=prior_weight)
        EditConfig(format=format)  # an unknown format fails here
        pictures = PicturesConfig(images_per_model=at_least_one("--n", n), seed=seed)
        from tasks.inputs import check_invert  # no torch or Prefect: errors come in a second

        masks = list(mask) if mask else None
        inputs = check_invert(list(images), store, config, masks, model_dir=model_dir)
        from tasks.inversion import invert_checked

        summary = invert_checked(list(images), inputs, out, config, masks, format, pictures=pictures)
    typer.echo(json.dumps(summary, indent=2))
