"""Flows of the w2w applications: fit attribute directions, edit models along them, sample new models.

`fit-directions` runs after `fit-space` (the nightly deployment refits both);
`edit-models` and `sample-models` make LoRA files and pictures for a run or a
report. The same work functions serve the CLI and notebooks without Prefect.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prefect import flow

from flows.names import directions_run, edit_run, sample_run
from storage.boundary import redact_url
from storage.read_config import ReadConfig
from tasks.calibration import calibrate_task, calibration_of_task
from tasks.config import CalibrationConfig, EditConfig, SampleConfig
from tasks.credentials import refuse_secrets_in_parameters
from tasks.directions import fit_directions_task, save_directions_task
from tasks.editing import edit_model_task
from tasks.sampling import sample_models_task
from w2w_core.directions import DirectionsConfig, directions_summary


@flow(name="fit-directions", flow_run_name=directions_run)
def fit_directions(store_url: str, config: DirectionsConfig = DirectionsConfig(), read: ReadConfig = ReadConfig(),
                   storage_options: Mapping[str, Any] | None = None,
                   calibration: CalibrationConfig | None = None,
                   calibration_from: str | None = None) -> dict[str, Any]:
    """One direction per attribute of the store, in its space's first m components; saved beside the space.

    calibration: on a store of the embedded world, strength 1 is measured with the probe as the edit that
    flips a typical training model (tasks/calibration.py: minutes of generation on a CPU, so it is asked for by
    `w2w directions fit` and `w2w zoo build`, not by the nightly refit); None keeps the raw unit.
    calibration_from: instead, take the strength unit measured for the directions of this store (a run's
    store that starts as the zoo takes the zoo's).
    """
    refuse_secrets_in_parameters(storage_options)
    directions = fit_directions_task(store_url, config, storage_options, read)
    if calibration_from is not None:
        directions = calibration_of_task(directions, calibration_from, storage_options)
    elif calibration is not None:
        directions = calibrate_task(store_url, directions, calibration, storage_options)
    where = save_directions_task(directions, store_url, storage_options)
    return {"directions_url": redact_url(where), **directions_summary(directions)}


@flow(name="edit-models", flow_run_name=edit_run)
def edit_models(store_url: str, models: Sequence[str], out: str, edits: Mapping[str, float],
                sweep: tuple[str, list[float]] | None = None, config: EditConfig = EditConfig(),
                storage_options: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Each model edited (and swept) along the store's directions, into `out/<model>/`."""
    refuse_secrets_in_parameters(storage_options)
    return [edit_model_task(model, store_url, f"{out}/{i:02d}", edits, sweep, config, storage_options)
            for i, model in enumerate(models)]


@flow(name="sample-models", flow_run_name=sample_run)
def sample_models(store_url: str, out: str, config: SampleConfig = SampleConfig(),
                  storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """New identity models from the store's space, as LoRA files beside their nearest training identities."""
    refuse_secrets_in_parameters(storage_options)
    return sample_models_task(store_url, out, config, storage_options)
