"""The scheduled job: grow the weight dataset by M identities, then refit the w2w space.

Deployed from prefect.yaml at the repository root (`prefect deploy --all`), run
by a worker of the process work pool `w2w-process`; see docs/deployments.md.
Each run trains the next `add_identities` identities (plus any left pending or
failed by earlier runs), then fits the space on every done row, so the space
follows the dataset as it grows. A run whose build left identities failed
still refits on what is done, then ends Failed so the failures show in the UI.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prefect import flow

from flows.dataset import DatasetIncompleteError, build_weights_dataset
from flows.space import fit_space
from storage.weight_store import WeightStore
from tasks.batch_training import DatasetConfig
from w2w_core.errors import StorageError

WORK_POOL = "w2w-process"  # process work pool the deployment runs on (prefect.yaml)


def store_size(store_url: str, storage_options: Mapping[str, Any] | None = None) -> int:
    """Rows the store has now; 0 if there is no store yet."""
    try:
        return WeightStore.open(store_url, storage_options, read_only=True).n_rows
    except StorageError as err:
        if "no weight store at" in str(err):
            return 0
        raise


@flow(name="grow-and-refit")
def grow_and_refit(store_url: str, add_identities: int = 256, k: int = 64, batch_size: int = 8,
                   config: DatasetConfig = DatasetConfig(), pca_method: str = "auto",
                   storage_options: Mapping[str, Any] | None = None,
                   scheduler_address: str | None = None, gpus_per_batch: float = 1.0,
                   retries: int = 2, retry_delay_s: float = 30.0) -> dict[str, Any]:
    """Train `add_identities` more identities into the store, then refit the k-component space.

    storage_options: leave None and give the worker AWS_* variables (Prefect stores parameters).
    scheduler_address: a Dask scheduler for both the batches (GPU workers) and the PCA blocks.
    gpus_per_batch: GPU resource each batch asks of a Dask worker (0: any worker).
    """
    target = store_size(store_url, storage_options) + add_identities
    built = build_weights_dataset(store_url, target, batch_size, config, storage_options,
                                  scheduler_address, gpus_per_batch, retries, retry_delay_s,
                                  return_state=True)
    space = fit_space(store_url, k, method=pca_method, storage_options=storage_options,
                      scheduler=scheduler_address)
    if built.is_failed():
        raise DatasetIncompleteError(f"the space was refit on the done rows, but the build was "
                                     f"incomplete: {built.message}")
    return {"build": built.result(), "space": space}
