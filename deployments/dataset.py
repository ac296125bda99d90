"""The scheduled job: grow the weight dataset by M identities, then refit the w2w space and the directions.

Deployed from prefect.yaml at the repository root (`prefect deploy --all`), run
by a worker of the process work pool `w2w-process`; see docs/deployments.md.
Each run trains the next `add_identities` identities (plus any left pending or
failed by earlier runs; a retry of a run trains what that run left, nothing more), then fits the space on
every done row and the attribute directions in it, so both follow the dataset as it grows. A run whose build
left identities failed still refits on what is done, then ends Failed so the failures show in the UI.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from flows.dataset import DatasetIncompleteError, build_weights_dataset
from flows.directions import fit_directions
from flows.space import fit_space
from storage.read_config import ReadConfig
from tasks.config import DatasetConfig, FanOutConfig
from tasks.credentials import refuse_secrets_in_parameters, use_credentials_block_task
from tasks.dataset import run_target_task
from w2w_core.directions import DirectionsConfig
from w2w_core.pca import PCAConfig

WORK_POOL = "w2w-process"  # process work pool the deployment runs on (prefect.yaml)


@flow(name="grow-and-refit")
def grow_and_refit(store_url: str, add_identities: int = 256, config: DatasetConfig = DatasetConfig(),
                   space: PCAConfig | None = None, directions_config: DirectionsConfig = DirectionsConfig(),
                   fan_out: FanOutConfig = FanOutConfig(), credentials_block: str | None = None,
                   storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Train `add_identities` more identities into the store, then refit the space.

    space: None fits the default space of the done rows (w2w_core.space.default_k, as `w2w space fit` does).

    credentials_block: the name of a Prefect Secret block with the S3 key and secret (tasks/credentials.py);
    None: the worker's AWS_* environment. Credentials are never a parameter (Prefect stores parameters).
    storage_options: non-secret fsspec options only; a key or secret here is refused.
    fan_out.scheduler_address: a Dask scheduler for both the batches (GPU workers) and the PCA blocks.
    """
    refuse_secrets_in_parameters(storage_options)
    if credentials_block:
        use_credentials_block_task(credentials_block)
    # fixed on the run's first attempt: a retry of this run (the UI's Retry) finishes it and grows nothing more
    target = run_target_task(store_url, flow_run.id, add_identities, storage_options)
    built = build_weights_dataset(store_url, target, config, fan_out, storage_options, return_state=True)
    read = ReadConfig(scheduler=fan_out.scheduler_address)
    fitted = fit_space(store_url, space, read, storage_options)
    directions = fit_directions(store_url, directions_config, ReadConfig(), storage_options)
    if built.is_failed():
        raise DatasetIncompleteError(f"the space and directions were refit on the done rows, but the build was "
                                     f"incomplete: {built.message}")
    return {"build": built.result(), "space": fitted, "directions": directions}
