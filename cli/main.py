"""The `w2w` command line: mounts every command group (one module each under cli/)."""
from __future__ import annotations

import os

import typer

from cli import base, dataset, directions, edit, identity, invert, report, run, s3, space, zoo

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Library chatter that is not the user's business (torchvision hints, weight-loading bars): errors only.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
# The temporary Prefect API a local run starts can take a while on a loaded laptop; no telemetry: the
# server's (PREFECT_SERVER_ANALYTICS_ENABLED) and the client's, whose first-run notice DO_NOT_TRACK silences.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


app = typer.Typer(help="weights2weights: identity LoRAs as data.", no_args_is_help=True, pretty_exceptions_enable=False)


@app.callback()
def options(verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's full logging (every "
                                         "flow and task run, the temporary API server) instead of the stages, "
                                         "progress and warnings.")) -> None:
    """weights2weights: identity LoRAs as data."""
    from cli.quiet import set_verbosity

    set_verbosity(verbose)


app.command()(identity.finetune)
app.command()(identity.generate)
app.command()(run.run)
app.command()(report.report)
app.command()(edit.edit)
app.command()(edit.sample)
app.command()(invert.invert)
app.add_typer(base.app, name="base")
app.add_typer(s3.app, name="s3", help="A local S3-compatible server and credential checks.")
app.add_typer(dataset.app, name="dataset")
app.add_typer(space.app, name="space")
app.add_typer(directions.app, name="directions")
app.add_typer(zoo.app, name="zoo")


def main() -> None:
    """The `w2w` entry point: Typer's app, with its usage errors (an unknown option, a value of the wrong
    type) printed as one line like every other error, exit status 2."""
    from cli.errors import EXIT_BAD_INPUT

    usage_error = type(typer.BadParameter("x")).__mro__[1]  # Typer's own click UsageError (vendored since 0.20)
    try:
        # without standalone mode, a command's exit status comes back here; prog_name: `w2w` in every usage
        # line, however the process was started (python -c, python -m, the entry point)
        code = app(standalone_mode=False, prog_name="w2w")
    except usage_error as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # a bare `w2w` or command group: the help was shown
            raise SystemExit(0) from None
        hint = f" (see `{error.ctx.command_path} --help`)" if getattr(error, "ctx", None) is not None else ""
        typer.secho(f"error: {error.format_message()}{hint}", fg="red", err=True)
        raise SystemExit(EXIT_BAD_INPUT) from None
    except typer.Abort:
        raise SystemExit(130) from None
    except typer.Exit as done:
        raise SystemExit(done.exit_code) from None
    raise SystemExit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
