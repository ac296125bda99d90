"""What the `w2w` commands share: the W2WError exit (one red line, status 2, no traceback) and
fine-tune settings built from options."""
from __future__ import annotations

from typing import Any

import typer


def fail(error: Exception) -> None:
    typer.secho(f"error: {error}", fg="red", err=True)
    raise typer.Exit(2)


def finetune_config(steps: int | None, **fields: Any):
    """A FinetuneConfig from CLI options; steps None keeps the config's own default.

    Imported lazily: the CLI starts without torch.
    """
    from w2w_core.finetune import FinetuneConfig

    return FinetuneConfig(**fields, **({} if steps is None else {"steps": steps}))
