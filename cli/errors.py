"""How every `w2w` command fails: one red line on stderr, exit status 2, no traceback."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import NoReturn

import typer

from w2w_core.errors import W2WError

EXIT_BAD_INPUT = 2  # the user's input (or store, or file) was wrong: the message says what to change


def fail(error: Exception | str, exit_code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print `error: <message>` and end the command with `exit_code`."""
    typer.secho(f"error: {error}", fg="red", err=True)
    raise typer.Exit(exit_code)


@contextlib.contextmanager
def failing_cleanly() -> Iterator[None]:
    """Turn a W2WError raised inside the block into `fail(error)`."""
    try:
        yield
    except W2WError as error:
        fail(error)
