"""A weight store's status as text: counts, failure reasons, and what `--verify` found.

What `w2w dataset status` prints; a flow, a notebook or a test can show the same.
"""
from __future__ import annotations

from collections import Counter

from storage.weight_store import WeightStore

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
        lines += [f"  {n:>6} x {reason}" for reason, n in Counter(r for _, _, r in failures).most_common()]
        lines += _listed([f"row {row} (identity {identity})" for row, identity, _ in failures])
    ok = True
    if verify:
        report = store.verify(mark_failed=mark_failed)
        ok = report.ok
        lines.append(f"verify: {report.checked} done rows re-read, {len(report.bad)} bad")
        lines += _listed([f"row {b.row}: {b.reason}" for b in report.bad])
        if report.bad:
            lines.append("  these rows are now marked failed; the next build retrains them" if mark_failed
                         else "  rerun with --mark-failed so the next build retrains them")
    return "\n".join(lines), ok


def _listed(items: list[str]) -> list[str]:
    """The first MAX_LISTED items, indented, and a count of the rest."""
    more = [f"  ... and {len(items) - MAX_LISTED} more"] if len(items) > MAX_LISTED else []
    return [f"  {item}" for item in items[:MAX_LISTED]] + more
