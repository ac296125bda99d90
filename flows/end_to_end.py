"""The `w2w-run` flow: the whole pipeline on the embedded default, ending in a report.

Build a small weight dataset (one task per batch), fit the w2w space on it,
then sample new identities from the space and draw everything in one
picture. Each step is the same flow a team runs at scale; rerunning skips the
identities already trained.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from prefect import flow

from flows.dataset import build_weights_dataset
from flows.space import fit_space
from tasks.batch_training import DatasetConfig
from tasks.report import write_report_task
from tasks.reporting import ReportConfig


@flow(name="w2w-run")
def w2w_run(out: str = "w2w-out", n_identities: int = 16, batch_size: int = 8, k: int = 8,
            steps: int | None = None, report: ReportConfig = ReportConfig()) -> dict:
    """Dataset -> space -> report under `out` (store in out/store, picture in out/report.png)."""
    config = DatasetConfig()
    if steps is not None:
        config = replace(config, finetune=replace(config.finetune, steps=steps))
    store_url = str(Path(out).resolve() / "store")
    dataset = build_weights_dataset(store_url, n_identities, batch_size, config)
    space = fit_space(store_url, k=min(k, n_identities - 1))
    summary = write_report_task(store_url, out, report)
    return {"dataset": dataset, "space": space, **summary}
