"""How every `w2w` command fails: one red line on stderr, exit status 2, no traceback."""
from __future__ import annotations

import contextlib
import inspect
import sys
from collections.abc import Iterator
from typing import NoReturn

import typer

from w2w_core.errors import InputError, W2WError

EXIT_BAD_INPUT = 2  # the user's input (or store, or file) was wrong: the message says what to change


def fail(error: Exception | str, exit_code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print `error: <message>` and end the command with `exit_code`.

    Requests still in flight when the error came (zarr's concurrent reads of an unreachable store)
    are dropped as the process exits; Python would report each as "Exception ignored": the one line
    above already said what went wrong, so those reports are silenced.
    """
    typer.secho(f"error: {error}", fg="red", err=True)
    sys.unraisablehook = _quiet_unraisable
    raise typer.Exit(exit_code)


def _quiet_unraisable(unraisable: sys.UnraisableHookArgs) -> None:
    """Drop the cleanup noise of abandoned I/O coroutines; report anything else as Python would."""
    if inspect.iscoroutine(unraisable.object) or type(unraisable.exc_value).__module__.split(".")[0] in _IO_LIBRARIES:
        return
    sys.__unraisablehook__(unraisable)


_IO_LIBRARIES = {"aiohttp", "aiobotocore", "botocore", "s3fs", "fsspec", "zarr", "asyncio"}


@contextlib.contextmanager
def failing_cleanly() -> Iterator[None]:
    """Turn a W2WError raised inside the block into `fail(error)`."""
    try:
        yield
    except W2WError as error:
        fail(error)


def at_least_one(option: str, value: int) -> int:
    """`value`, refused below 1 in the same words by every command that takes a count (`--n` and friends)."""
    if value < 1:
        raise InputError(f"{option} must be at least 1, got {value}")
    return value
