"""The `w2w-report` flow: the report of `w2w run` for any store with a space and directions.

Nothing is trained: the store's first identities, models sampled from its
space, edits along its directions and (given a held-out store) inversions are
shown, each model written as a LoRA file, under `out`: report.html,
report.json, models/.
"""
from __future__ import annotations

from pathlib import Path

from prefect import flow

from flows.names import report_run
from tasks.config import ReportConfig
from tasks.progress import Stages
from tasks.report import write_report_task
from tasks.run import dataset_stage_task, edits_stage_task, inversion_stage_task, samples_stage_task, save_models_task
from tasks.store_report import check_reportable_task, first_done_rows_task, store_header_task

STAGES = ("check the store", "invert single images", "show the dataset", "sample new identities", "edit identities",
          "write the report")


@flow(name="w2w-report", flow_run_name=report_run)
def store_report(store_url: str, out: str = "w2w-report", heldout_url: str | None = None,
                 config: ReportConfig = ReportConfig()) -> dict:
    """A store's space and directions shown: dataset, samples, edits (and inversions) -> report.html."""
    root, stages = Path(out).resolve(), Stages(len(STAGES))
    with stages.stage(STAGES[0]):
        check_reportable_task(store_url, heldout_url)
        rows = first_done_rows_task(store_url, max(config.n_dataset_rows, config.n_edited))
    with stages.stage(STAGES[1]):
        inversion, inverted = inversion_stage_task(store_url, heldout_url, config) if heldout_url else (None, [])
    with stages.stage(STAGES[2]):
        shown = dataset_stage_task(store_url, rows[: config.n_dataset_rows], config)
    with stages.stage(STAGES[3]):
        samples, sampled = samples_stage_task(store_url, config)
    with stages.stage(STAGES[4]):
        edits, edited = edits_stage_task(store_url, heldout_url, rows, inverted, config)
    with stages.stage(STAGES[5]):
        files = save_models_task(str(root / "models"), store_url, sampled + edited + inverted)
        header = store_header_task(store_url, heldout_url, stages.seconds, files)
        sections = {"dataset": shown, "samples": samples, "edits": edits}
        if inversion is not None:
            sections["inversion"] = inversion
        numbers = write_report_task(str(root), header, sections, store_url)
    print(f"report: {numbers['report']}", flush=True)
    return numbers
