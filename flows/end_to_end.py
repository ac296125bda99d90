"""The `w2w-run` flow: the whole pipeline on the embedded default, ending in a report.

Build a small weight dataset (one task per batch), fit the w2w space on it,
then sample new identities from the space and draw everything in one
picture. Each step is the same flow a team runs at scale; rerunning skips the
identities already trained.
"""
from __future__ import annotations

from pathlib import Path

from prefect import flow

from flows.dataset import build_weights_dataset
from flows.space import fit_space
from tasks.config import RunConfig
from tasks.report import write_report_task
from w2w_core.pca import PCAConfig


@flow(name="w2w-run")
def w2w_run(out: str = "w2w-out", config: RunConfig = RunConfig()) -> dict:
    """Dataset -> space -> report under `out` (store in out/store, picture in out/report.png)."""
    store_url = str(Path(out).resolve() / "store")
    dataset = build_weights_dataset(store_url, config.n_identities, config.dataset)
    space = fit_space(store_url, PCAConfig(k=config.k))
    summary = write_report_task(store_url, out, config.report)
    return {"dataset": dataset, "space": space, **summary}
