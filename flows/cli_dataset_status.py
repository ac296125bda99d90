"""`w2w dataset status`: counts of done / failed / pending rows, failure reasons, --verify.

Mount with `dataset_app.command("status")(status)`. The text comes from
`status_text`, so a flow or a test can show the same thing without the CLI.
"""
from __future__ import annotations

from collections import Counter

import typer

from storage.weight_store import WeightStore
from w2w_core.errors import W2WError

MAX_LISTED = 20  # failed or bad rows listed one by one; the rest are summarised


def status_text(store: WeightStore, verify: bool = False, mark_failed: bool = False) -> tuple[str, bool]:
    """The status report of `store`, and whether verification (if asked) found nothing wrong."""
    counts = store.counts()
    lines = [f"{store!r}",
             f"done {counts['done']}  failed {counts['failed']}  pending {counts['pending']}  "
             f"(of {counts['total']})"]
    failures = store.failures()
    if failures:
        lines.append("failure reasons:")
        for reason, n in Counter(r for _, _, r in failures).most_common():
            lines.append(f"  {n:>6} x {reason}")
        lines += [f"  row {row} (identity seed {seed})" for row, seed, _ in failures[:MAX_LISTED]]
        if len(failures) > MAX_LISTED:
            lines.append(f"  ... and {len(failures) - MAX_LISTED} more")
    ok = True
    if verify:
        report = store.verify(mark_failed=mark_failed)
        ok = report.ok
        lines.append(f"verify: {report.checked} done rows re-read, {len(report.bad)} bad")
        lines += [f"  row {b.row}: {b.reason}" for b in report.bad[:MAX_LISTED]]
        if len(report.bad) > MAX_LISTED:
            lines.append(f"  ... and {len(report.bad) - MAX_LISTED} more")
        if report.bad:
            lines.append("  these rows are now marked failed; the next build retrains them" if mark_failed
                         else "  rerun with --mark-failed so the next build retrains them")
    return "\n".join(lines), ok


def status(
    url: str = typer.Argument(..., help="Store URL: a local path or s3://bucket/prefix (credentials from AWS_* env vars)."),
    verify: bool = typer.Option(False, "--verify", help="Re-read every done row and check its checksum."),
    mark_failed: bool = typer.Option(False, "--mark-failed", help="With --verify: mark bad rows failed so a rerun retrains them."),
) -> None:
    """Show how far the weight dataset at URL is; exit 1 if --verify finds bad rows."""
    try:
        text, ok = status_text(WeightStore.open(url, read_only=not mark_failed), verify, mark_failed)
    except W2WError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2)
    typer.echo(text)
    if not ok:
        raise typer.Exit(1)
