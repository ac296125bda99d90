"""Flow run names a person can tell apart in the Prefect UI: what the run does, to which store.

Prefect names a run after two random words ("advanced-buffalo") unless the
flow says otherwise; these say it from the run's own parameters, e.g.
"16 identities into w2w-out/store". The store is shown by its last two path
parts (an s3:// URL keeps its scheme and bucket out: the UI shows the
parameters in full).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect.runtime import flow_run

from storage.boundary import redact_url


def _where(url: Any) -> str:
    """The last two parts of a store's path or URL: enough to tell runs apart."""
    shown = redact_url(str(url))  # a run's name is printed and stored: never the credentials of a URL
    parts = [p for p in shown.split("://")[-1].rstrip("/").split("/") if p]
    return "/".join(parts[-2:]) or shown


def _count(value: Any, what: str) -> str:
    return f"{len(value)} {what}" if value is not None else f"all {what}"


def _identities(n: int | None) -> str:
    return "all identities" if n is None else f"{n} identit{'y' if n == 1 else 'ies'}"


def named(describe: Callable[[dict[str, Any]], str]) -> Callable[[], str]:
    """A `flow_run_name` callable: `describe(parameters)`."""
    return lambda: describe(dict(flow_run.parameters))


dataset_run = named(lambda p: f"{_identities(p.get('n_identities'))} into {_where(p['store_url'])}")
space_run = named(lambda p: f"space of {_where(p['store_url'])}")
directions_run = named(lambda p: f"directions of {_where(p['store_url'])}")
edit_run = named(lambda p: f"edit {_count(p.get('models'), 'models')} of {_where(p['store_url'])}")
sample_run = named(lambda p: f"sample from {_where(p['store_url'])}")
inversion_run = named(lambda p: f"invert {_count(p.get('paths'), 'images')} in {_where(p['store_url'])}")
report_run = named(lambda p: f"report of {_where(p['store_url'])}")
zoo_run = named(lambda p: f"zoo at {_where(p['out'])}")
end_to_end_run = named(lambda p: f"w2w run into {_where(p.get('out', 'w2w-out'))}")
