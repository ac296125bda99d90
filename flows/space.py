"""The `fit-space` flow: fit the w2w space on the weight store and save it beside the weights."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prefect import flow

from storage.boundary import redact_url
from storage.dask_matrix import ReadConfig
from tasks.space import fit_space_task, save_space_task
from w2w_core.pca import PCAConfig


@flow(name="fit-space")
def fit_space(store_url: str, k: int, method: str = "auto", backend: str = "numpy",
              standardize: bool = True, n_oversamples: int | None = None, n_power_iter: int | None = None,
              seed: int = 0, storage_options: Mapping[str, Any] | None = None,
              scheduler: str | None = None, space_url: str | None = None,
              block_bytes: int = ReadConfig.block_bytes) -> dict[str, Any]:
    """Fit the space (k components, PCA `method`) on the store's done rows and save it.

    storage_options: leave None to take S3 credentials from the AWS_* environment (Prefect
    records flow parameters, so secrets passed here would be stored with the run).
    scheduler: a Dask scheduler address to run the block kernels on; None: threads here.
    space_url: where to save the space; None: the `space/` group of the store.
    """
    config = PCAConfig(k=k, method=method, standardize=standardize, n_oversamples=n_oversamples,
                       n_power_iter=n_power_iter, seed=seed)
    read = ReadConfig(block_bytes=block_bytes, scheduler=scheduler)
    space = fit_space_task(store_url, config, backend, storage_options, read)
    where = save_space_task(space, space_url or store_url, storage_options, None if space_url else "space")
    return {
        "space_url": redact_url(where), "k": space.k, "method": space.fit_config["method"],
        "n_rows": len(space.row_ids), "n_params": space.n_params, "passes": len(space.fit_config["passes"]),
        "seconds": round(space.fit_config["seconds"], 3),
        "explained_variance": float(space.explained_variance_ratio.sum()),
    }
