"""The `w2w-run` flow: the whole idea on the embedded default, in one report.

The run's store starts as the shipped zoo (thousands of world identities) and
grows by this run's own identities, trained by the same batched dataset flow
a team runs; a few held-out identities go into a store of their own. Then the
w2w space and the attribute directions are fit, and the applications run:
sampled models, edits, single-image inversion. Everything lands under `out`:
report.html (self-contained), report.json, the LoRA files of every model shown.
A rerun skips the identities already trained.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from prefect import flow

from flows.dataset import build_weights_dataset
from flows.directions import fit_directions
from flows.names import end_to_end_run
from flows.space import fit_space
from tasks.config import ZOO_DIR, CalibrationConfig, RunConfig
from tasks.dataset import trained_prefix_task
from tasks.progress import Stages, store_progress
from tasks.report import write_report_task
from tasks.run import (
    dataset_stage_task,
    edits_stage_task,
    inversion_stage_task,
    run_header,
    samples_stage_task,
    save_models_task,
    seed_store_from_zoo_task,
    zoo_models,
)
from w2w_core.pca import PCAConfig
from w2w_core.space import default_k

STAGES = ("start from the zoo", "train this run's identities", "train held-out identities", "fit the w2w space",
          "fit attribute directions", "invert single images", "show the dataset", "sample new identities",
          "edit identities", "write the report")


@flow(name="w2w-run", flow_run_name=end_to_end_run)
def w2w_run(out: str = "w2w-out", config: RunConfig = RunConfig()) -> dict:
    """Zoo + this run's identities -> space -> directions -> samples, edits, inversions -> report.html."""
    root = Path(out).resolve()
    store, heldout = str(root / "store"), str(root / "heldout")
    dataset = config.zoo.dataset
    stages = Stages(len(STAGES))
    with stages.stage(STAGES[0]):
        # the zoo's trained rows (it grows over several builds); this run's identities follow them
        zoo_rows = trained_prefix_task(str(ZOO_DIR)) if config.use_zoo else 0
        if config.use_zoo:
            seed_store_from_zoo_task(store, str(ZOO_DIR))
        run_rows = list(range(zoo_rows, zoo_rows + config.n_identities))
        zoo_counts = zoo_models(str(ZOO_DIR), run_rows) if config.use_zoo else (0, 0)
    with stages.stage(STAGES[1]), store_progress(store, zoo_rows + config.n_identities, "identities"):
        built = build_weights_dataset(store, zoo_rows + config.n_identities, dataset)
    with stages.stage(STAGES[2]), store_progress(heldout, config.n_heldout, "held-out"):
        build_weights_dataset(heldout, config.n_heldout, replace(dataset, world_split="heldout"))
    with stages.stage(STAGES[3]):
        n_models = built["done"]
        space = fit_space(store, PCAConfig(k=config.k or default_k(n_models)))
    with stages.stage(STAGES[4]):
        # the zoo's measured strength unit: the run's directions are refit on the zoo's models and a few more
        directions = fit_directions(store, calibration=CalibrationConfig(),
                                    calibration_from=str(ZOO_DIR) if config.use_zoo else None)
    with stages.stage(STAGES[5]):
        inversion, inverted = inversion_stage_task(store, heldout, config.report)
    with stages.stage(STAGES[6]):
        shown = dataset_stage_task(store, run_rows[: config.report.n_dataset_rows], config.report)
    with stages.stage(STAGES[7]):
        samples, sampled = samples_stage_task(store, config.report)
    with stages.stage(STAGES[8]):
        edits, edited = edits_stage_task(store, heldout, run_rows, inverted, config.report)
    with stages.stage(STAGES[9]):
        files = save_models_task(str(root / "models"), store, sampled + edited + inverted)
        header = run_header(config, zoo_counts, built, space, directions, stages.seconds, files)
        sections = {"dataset": shown, "samples": samples, "edits": edits, "inversion": inversion}
        numbers = write_report_task(str(root), header, sections, store)
    print(f"report: {numbers['report']}", flush=True)
    return numbers
