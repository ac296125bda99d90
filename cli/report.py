"""`w2w report STORE`: the report of `w2w run` (samples, edits, inversions) for any store of the embedded world."""
from __future__ import annotations

from pathlib import Path

import typer

from cli.errors import failing_cleanly


def report(
    store: str = typer.Argument(..., help="weight store with a fit space and directions (path or s3://)"),
    out: Path = typer.Option(Path("w2w-report"), help="folder for report.html, report.json and the models"),
    heldout: str = typer.Option(None, help="a store of held-out identities to invert (and edit) as well"),
) -> None:
    """Write report.html for a store's space and directions: its identities, samples, edits (and inversions)."""
    with failing_cleanly():
        from cli.processes import end_children_with_this_process
        from cli.quiet import quiet_prefect_tracebacks
        from tasks.inputs import check_reportable

        check_reportable(store, heldout)  # before Prefect starts: a bad store fails in a second, in one line
        end_children_with_this_process()
        quiet_prefect_tracebacks()
        from flows.report import store_report

        numbers = store_report(store, str(out), heldout)
    typer.echo(f"report: {numbers['report']}")
