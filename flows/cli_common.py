"""What every `w2w` command does with a W2WError: one red line and exit status 2, no traceback."""
import typer


def fail(error: Exception) -> None:
    typer.secho(f"error: {error}", fg="red", err=True)
    raise typer.Exit(2)
