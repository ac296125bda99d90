"""`w2w finetune` and `w2w generate`: one identity's LoRA, and pictures from a LoRA file."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from cli.errors import at_least_one, fail, failing_cleanly
from w2w_core.finetune.config import FinetuneConfig
from w2w_core.world.prompts import INSTANCE_PROMPT


def finetune(
    seed: list[int] = typer.Option(None, help="identity seed of the embedded world (repeat for several)"),
    images: list[Path] = typer.Option(None, "--image", help="image file(s) of one identity"),
    folders: list[Path] = typer.Option(None, "--images", help="a folder of one identity's images (repeat for several)"),
    out: Path = typer.Option(Path("w2w-out/finetune"), help="folder for lora.safetensors, theta.npy, layout.json "
                             "(several identities: one subfolder each)"),
    model: Path = typer.Option(None, help="diffusers model folder (default: the embedded tiny model)"),
    steps: int = typer.Option(FinetuneConfig.steps, help="optimisation steps"),
    learning_rate: float = typer.Option(FinetuneConfig.learning_rate, help="AdamW step size"),
    prior_weight: float = typer.Option(FinetuneConfig.prior_weight, help="prior-preservation weight (0: off)"),
) -> None:
    """Fine-tune rank-1 LoRAs of one or more identities, together in one batch; write each LoRA file."""
    with failing_cleanly():
        config = FinetuneConfig(steps=steps, learning_rate=learning_rate, prior_weight=prior_weight)
        from tasks.inputs import check_finetune  # no torch: errors come in a second

        check_finetune(seed or [], images or [], folders or [], out, model)
        from tasks.identity import finetune_many

        summary = finetune_many(seed or [], images or [], folders or [], out, model, config)
    typer.echo(json.dumps(summary, indent=2))
    if summary["failed"]:
        fail(f"{len(summary['failed'])} of {summary['identities']} identities failed: "
             + "; ".join(f"{name}: {why}" for name, why in summary["failed"].items()))


def generate(
    lora: Path = typer.Argument(None, help="LoRA .safetensors (omit for the base model)"),
    prompt: str = typer.Option(INSTANCE_PROMPT, help="text prompt"),
    out: Path = typer.Option(Path("w2w-out/generate.png"), help="PNG grid to write"),
    n: int = typer.Option(8, help="number of images"),
    seed: int = typer.Option(0, help="sampling seed"),
    model: Path = typer.Option(None, help="diffusers model folder (default: the embedded tiny model)"),
) -> None:
    """Generate a PNG grid from the base model, with a LoRA file applied if given."""
    with failing_cleanly():
        from tasks.inputs import check_generate  # no torch: errors come in a second

        at_least_one("--n", n)
        check_generate(lora, model)
        from tasks.identity import generate_grid

        path = generate_grid(lora, prompt, out, n, seed, model)
    typer.echo(f"wrote {path}")
